"""What the web tests share besides fixtures: a logged-in browser tab."""

from __future__ import annotations


class Tab:
    """A browser page on the farm, with the requests it tried to send elsewhere."""

    def __init__(self, page: object, base: str, refused: list[str]) -> None:
        self.page = page
        self.base = base
        self.refused = refused

    def goto(self, path: str) -> object:
        return self.page.goto(self.base + path)  # type: ignore[attr-defined]


def login(page: object, base: str, token: str, path: str = "/") -> None:
    """Log in through the form, as a user would, and land on ``path``."""
    page.goto(f"{base}/login?next={path}")  # type: ignore[attr-defined]
    page.fill("input[name=token]", token)  # type: ignore[attr-defined]
    page.click("form.login button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}{path}")  # type: ignore[attr-defined]
