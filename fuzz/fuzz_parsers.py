"""Coverage-guided fuzzing (atheris + libFuzzer) of tipdrop's parsers of untrusted bytes.

    python fuzz/fuzz_parsers.py TARGET [libFuzzer options] [CORPUS_DIR ...]

TARGET is one of envelope, stream, reply_bundle, export, http (see targets.py).
Any exception other than a TipdropError is a crash, and so is a 5xx answer
of the ``http`` target: libFuzzer prints the traceback, writes the input to
``-artifact_prefix`` and exits non-zero.
Pass a scratch folder first and fuzz/corpus/TARGET second: libFuzzer adds
new inputs to the first folder only. ``make fuzz`` runs every target for
FUZZ_SECONDS; tests/test_fuzz_smoke.py runs each for a few seconds.
"""

import sys

import atheris

# The multipart decoder and gunicorn's HTTP parser are instrumented too, so the
# fuzzer learns to build requests that get through them into tipdrop's code.
with atheris.instrument_imports(include=["tipdrop", "werkzeug.sansio.multipart",
                                         "gunicorn.http"]):
    import targets


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(targets.TARGETS)}}} [libFuzzer options]")
    target = sys.argv.pop(1)

    def test_one_input(data):
        targets.run(target, data)

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
