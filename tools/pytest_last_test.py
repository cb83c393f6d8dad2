"""pytest plugin for tools/sanitize.sh: writes the id of each test as it starts to
$FASTCONV_LAST_TEST_FILE, so when a sanitizer halts the process (no traceback,
no pytest report) the script can say which test was running."""
import os


def pytest_runtest_logstart(nodeid, location):
    path = os.environ.get("FASTCONV_LAST_TEST_FILE")
    if path:
        with open(path, "w") as f:
            f.write(nodeid + "\n")
