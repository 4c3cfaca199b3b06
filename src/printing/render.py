"""HTML on stdin to PDF on stdout with WeasyPrint, fetching nothing but the
template folder.

Run by quartermaster (src/printing/pdf.rs) with the Python that Debian's
`weasyprint` command runs on: `python3 -c <this> [TEMPLATE_DIR]`. Every
resource a document names (images, stylesheets, @import, url(), fonts) goes
through `fetch`: a `data:` URL is read, a `file:` URL is read only when its
real path (symlinks resolved) is inside TEMPLATE_DIR, and anything else
(http, https, ftp, any other file) is refused and named on stderr. A
document with no TEMPLATE_DIR reads nothing but `data:` URLs.
"""
import os
import sys
from urllib.parse import unquote, urlsplit

import weasyprint

ROOT = os.path.realpath(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else None


def allowed(url):
    if url.startswith("data:"):
        return True
    if ROOT is None or not url.startswith("file:"):
        return False
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return False
    path = os.path.realpath(unquote(parts.path))
    return path == ROOT or path.startswith(ROOT + os.sep)


def fetch(url, timeout=10, ssl_context=None):
    if not allowed(url):
        print("qm: refused to fetch %s" % url[:200], file=sys.stderr)
        raise ValueError("only the template folder is read")
    return weasyprint.default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)


html = sys.stdin.buffer.read().decode("utf-8", "replace")
base = (ROOT + os.sep) if ROOT else None
weasyprint.HTML(string=html, base_url=base, url_fetcher=fetch).write_pdf(sys.stdout.buffer)
