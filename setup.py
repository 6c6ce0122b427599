# Only the compiled extension lives here; everything else is in pyproject.toml.
#
# The extension is optional: where it cannot be built (no C compiler, no Python headers,
# no Cython) the build still succeeds, says so, and ringfast runs on its pure-Python core
# (ringfast/_pycore.py). Environment, at build time:
#   RINGFAST_NO_EXTENSIONS=1       do not even try (a pure-Python, py3-none-any wheel)
#   RINGFAST_REQUIRE_EXTENSIONS=1  a failed build is an error (release wheels: never ship
#                                  a wheel that silently lacks the compiled core)
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(name):
    raw = os.environ.get(name, "")
    if raw.strip().lower() in TRUE:
        return True
    if raw.strip().lower() in FALSE:
        return False
    sys.exit(f"ringfast setup.py: {name}={raw!r}: expected 1 or 0")


NO_EXTENSIONS = _flag("RINGFAST_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("RINGFAST_REQUIRE_EXTENSIONS")
if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
    sys.exit("ringfast setup.py: RINGFAST_NO_EXTENSIONS=1 and RINGFAST_REQUIRE_EXTENSIONS=1 contradict each other")


def _say(text):
    # pip shows a build's output only with -v; stderr at least reaches the build log.
    print(f"ringfast: {text}", file=sys.stderr, flush=True)


FALLBACK = "ringfast will use its pure-Python core (same results, much slower)"


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into a message, unless the extension is required."""

    def run(self):
        try:
            super().run()
        except Exception as e:  # noqa: BLE001 - e.g. no compiler found at all (DistutilsPlatformError)
            self._failed(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001 - CompileError, LinkError, a missing compiler binary
            self._failed(e)

    def _failed(self, error):
        if REQUIRE_EXTENSIONS:
            raise error
        _say(f"building the compiled core failed ({type(error).__name__}: {error}); {FALLBACK}.")


def _extensions():
    if NO_EXTENSIONS:
        _say(f"RINGFAST_NO_EXTENSIONS is set: not building the compiled core; {FALLBACK}.")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as e:
        if REQUIRE_EXTENSIONS:
            raise
        _say(f"Cython is not available ({e}): not building the compiled core; {FALLBACK}.")
        return []
    return cythonize(
        [Extension("ringfast._core", ["src/ringfast/_core.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": 3},
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
