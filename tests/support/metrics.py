"""Read a /metrics page as a test would look at it."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self._samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when it is not there (a counter never incremented)."""
        for sample_name, sample_labels, value in self._samples:
            if sample_name == name and sample_labels == labels:
                return value
        return 0.0

    def names(self) -> set[str]:
        return {name for name, _, _ in self._samples}


def scrape(base_url: str) -> Scrape:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    response.raise_for_status()
    return Scrape(response.text)
