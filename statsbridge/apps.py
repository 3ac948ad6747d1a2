from django.apps import AppConfig


class StatsbridgeConfig(AppConfig):
    name = "statsbridge"
    verbose_name = "Statistics bridge"
