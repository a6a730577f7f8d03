"""How a person works Home Assistant 2026.11's frontend, for Playwright.

The frontend is made of web components with open shadow roots. Playwright's
CSS and text locators pierce them; what they cannot do is find a form field by
its label, because a field's label is a property of its host element (for
example `ha-input.label`), not an attribute or a <label>. `field()` finds the
host by that property, marks it, and returns the input inside it.
"""

from __future__ import annotations

import re
from typing import Final

from playwright.sync_api import Locator, Page

# Chromium flags that work on this machine class (see environment.md): no
# sandbox as root, no GPU, nothing that reaches out to the internet.
CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: Final = {"width": 1280, "height": 860}

# Marks every element whose `label` property is the wanted label, through all
# shadow roots (unmarking the ones an earlier call marked), and returns how many
# it marked.
_MARK_FIELDS: Final = """
([label, mark]) => {
  let count = 0;
  const walk = (root) => {
    for (const element of root.querySelectorAll('*')) {
      element.removeAttribute('data-e2e-field');
      if (element.label === label && element.shadowRoot) {
        element.setAttribute('data-e2e-field', mark);
        count += 1;
      }
      if (element.shadowRoot) walk(element.shadowRoot);
    }
  };
  walk(document);
  return count;
}
"""


def log_in(page: Page, url: str, username: str, password: str) -> None:
    """Open Home Assistant and log in through its login form."""
    page.goto(url)
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/(home|lovelace)"))


def labelled(page: Page, label: str) -> Locator:
    """The innermost visible element whose `label` property is `label`."""
    page.wait_for_function(
        "([label, mark]) => (" + _MARK_FIELDS + ")([label, mark]) > 0",
        arg=[label, "f"],
    )
    # The innermost host wins: a selector wraps the text field that has the input.
    return page.locator('[data-e2e-field="f"]').last


def field(page: Page, label: str) -> Locator:
    """The text input (or text area) of the visible form field labelled `label`."""
    return labelled(page, label).locator("input, textarea").first


def choose(page: Page, label: str, option: str) -> None:
    """Open the drop-down labelled `label` and pick the option with this text."""
    labelled(page, label).click()
    page.get_by_role("menuitem", name=option, exact=True).last.click()


def fill(page: Page, label: str, value: str) -> None:
    """Replace the content of a form field, as typing would."""
    target = field(page, label)
    target.fill(value)


def field_value(page: Page, label: str) -> str:
    """What a form field holds."""
    return field(page, label).input_value()


def click_button(page: Page, name: str) -> None:
    """Click the visible button with this accessible name."""
    page.get_by_role("button", name=name, exact=True).last.click()


def click_text(page: Page, text: str) -> None:
    """Click the element showing exactly this text (a menu item, a list row)."""
    page.get_by_text(text, exact=True).last.click()


def wait_for_text(page: Page, text: str, *, timeout: float = 60_000) -> None:
    """Wait until this text shows somewhere on the page."""
    page.get_by_text(text).first.wait_for(timeout=timeout)


def open_integrations(page: Page) -> None:
    """Settings > Devices & services, through the sidebar."""
    page.locator("ha-sidebar").get_by_text("Settings", exact=True).click()
    page.wait_for_url("**/config/**")
    page.get_by_text("Devices & services", exact=True).first.click()
    page.wait_for_url("**/config/integrations/**")


def start_adding(page: Page, brand: str) -> None:
    """Add integration, search the brand, pick it."""
    click_button(page, "Add integration")
    page.get_by_placeholder("Search for a brand name").fill(brand)
    page.get_by_text(brand, exact=True).last.click()


RAW_KEY: Final = re.compile(r"component\.clarify\.")


def raw_translation_keys(page: Page) -> list[str]:
    """Texts on the page that show a raw translation key of this integration."""
    texts: list[str] = page.get_by_text(RAW_KEY).all_inner_texts()
    return texts


def pick_entities(page: Page, names: list[str]) -> None:
    """Add entities to an empty entities selector through its picker, by name.

    The first comes from the selector's own picker; each further one from its
    "Add entity" button, which opens a new picker. Each pick types the name
    into the picker's search and clicks the match.
    """
    selector = page.locator("ha-entities-picker")
    for index, name in enumerate(names):
        if index == 0:
            selector.locator("ha-picker-field button#trigger").first.click()
        else:
            selector.get_by_role("button", name="Add entity").click()
        search = page.locator("ha-picker-combo-box input").last
        search.wait_for()
        search.fill(name)
        page.locator("ha-picker-combo-box").get_by_text(name, exact=True).first.click()
        selector.get_by_text(name, exact=True).first.wait_for()
