"""Opens a page from disk in headless Chromium, for tests of what a person would see.

Debian's `chromium` and `chromium-driver` packages (installed by `.ci/run`)
are driven with Selenium. Where they are missing the test is skipped with
the reason, unless POKEVAE_REQUIRE_BROWSER=1 (set by CI), where that is a
failure: CI must never pass a browser test it did not run. Screenshots go
to POKEVAE_TEST_OUTPUT (default: <tmp>/pokevae-test-output), whose path the
test prints.
"""

import os
import pathlib
import shutil
import tempfile
import unittest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def output_dir():
  directory = os.environ.get("POKEVAE_TEST_OUTPUT") or os.path.join(
      tempfile.gettempdir(), "pokevae-test-output")
  os.makedirs(directory, exist_ok=True)
  return directory


def _driver(test):
  try:
    from selenium import webdriver  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.chrome.service import Service  # pylint: disable=import-outside-toplevel
  except ImportError:
    selenium = None
  else:
    selenium = webdriver
  missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
  if selenium is None or missing:
    reason = "selenium is not installed" if selenium is None else f"{missing[0]} is missing"
    if os.environ.get("POKEVAE_REQUIRE_BROWSER") == "1":
      test.fail(f"{reason}: install chromium and chromium-driver (see .ci/run)")
    raise unittest.SkipTest(f"{reason}: install chromium and chromium-driver (see .ci/run)")
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--window-size=1280,1600"):
    options.add_argument(flag)
  options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
  return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def check_page(test, path, screenshot_name):
  """Opens `path`; asserts every image decoded and the console has no error.

  Returns:
    The path of the full-page screenshot.
  """
  driver = _driver(test)
  try:
    driver.get(pathlib.Path(path).resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map("
        "i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
    test.assertTrue(images, "the page shows no image")
    for alt, complete, width, height in images:
      test.assertTrue(complete, alt)
      test.assertGreater(width, 0, alt)
      test.assertGreater(height, 0, alt)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    test.assertEqual(errors, [])
    # The console channel works: an error the page did not make is seen.
    driver.execute_script("console.error('probe from the test');")
    test.assertIn("probe from the test",
                  " ".join(entry["message"] for entry in driver.get_log("browser")))
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(1280, min(int(height), 12000))
    shot = os.path.join(output_dir(), screenshot_name)
    test.assertTrue(driver.save_screenshot(shot))
    return shot
  finally:
    driver.quit()
