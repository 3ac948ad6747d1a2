"""Dashboard pages."""

from django.shortcuts import render


def home(request):
    """Landing page."""
    return render(request, "home.html")
