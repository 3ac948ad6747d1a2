"""The embedded cache holds the latest value of every statistic of a large tenant."""

from django.core.cache import cache

from statsbridge import frames, store


def test_ten_thousand_latest_values_are_all_kept():
    keys = [f"s{n:020d}" for n in range(10_000)]
    stored = {
        key: frames.value(kind="number", value=n, text=str(n), state="fresh", timestamp=1, received=1)
        for n, key in enumerate(keys)
    }
    try:
        store.write(values=stored)
        read = store.read_values(keys)
        assert len(read) == len(keys), f"{len(keys) - len(read)} values were evicted"
        assert read[keys[-1]]["value"] == 9_999
    finally:
        cache.clear()
