"""Entry point of the sandbox's zygote process (see `sandbox`)."""

import sys

from ltxserve.media.sandbox import serve_zygote

if __name__ == "__main__":
    serve_zygote(int(sys.argv[1]))
