"""The dashboards printed to PDF by headless Chromium (Debian package `chromium`): the same engine as the
browsers people use, fed the same self-contained HTML (no network: styles inline, charts and map as SVG)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


class PdfUnavailable(RuntimeError):
    """Chromium is missing or failed: the page itself still works, and can be printed from a browser."""


def chromium_path(binary: str) -> str | None:
    return shutil.which(binary)


def html_to_pdf(html: str, *, binary: str, timeout: float) -> bytes:
    executable = chromium_path(binary)
    if executable is None:
        raise PdfUnavailable(f"{binary} introuvable : installez le paquet chromium pour produire les PDF")
    with tempfile.TemporaryDirectory(prefix="urgence-pdf-") as workdir:
        page, output = Path(workdir) / "page.html", Path(workdir) / "page.pdf"
        page.write_text(html, "utf-8")
        command = [
            executable,
            "--headless",
            # Containers run as root without user namespaces; the page is ours and loads nothing.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(workdir) / 'profile'}",
            f"--print-to-pdf={output}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise PdfUnavailable(f"chromium n'a pas produit le PDF en {timeout:.0f} s") from err
        if done.returncode != 0 or not output.exists():
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise PdfUnavailable(f"chromium a échoué (code {done.returncode}) : {detail[0][:300]}")
        return output.read_bytes()
