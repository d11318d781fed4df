"""A pinned npm package: `npm pack` into a temporary folder, checked before use.

The tarball must match the SHA-256 and the npm integrity pinned with its
name, so a rebuild uses exactly the bytes this repository was built from; a
copy already on disk (`--tarball FILE`) is checked the same way.
"""

import base64
import contextlib
import dataclasses
import hashlib
import pathlib
import shutil
import subprocess
import tempfile


class FetchError(Exception):
  """Fetching or verifying failed; the message is the one line shown."""


@dataclasses.dataclass(frozen=True)
class Pin:
  """One npm package at one version, and the hashes its tarball must have.

  Attributes:
    package: `name@version`, as `npm pack` takes it.
    sha256: Hex SHA-256 of the tarball.
    integrity: The registry's `sha512-<base64>` integrity of the tarball.
  """
  package: str
  sha256: str
  integrity: str


def sha256_file(path, *also) -> str:
  """Hex SHA-256 of a file, read in blocks; `also` are more hashlib objects to feed."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      for h in (digest, *also):
        h.update(block)
  return digest.hexdigest()


def verify_tarball(path, pin: Pin) -> None:
  """Raises FetchError unless `path` is the pinned tarball (SHA-256 and npm integrity)."""
  sha512 = hashlib.sha512()
  actual = sha256_file(path, sha512)
  if actual != pin.sha256:
    raise FetchError(f"{path} does not verify: SHA-256 {actual}, expected {pin.sha256} "
                     f"({pin.package}); not using it")
  if "sha512-" + base64.b64encode(sha512.digest()).decode() != pin.integrity:
    raise FetchError(f"{path} does not match the npm integrity {pin.integrity}")


def npm_pack(workdir, pin: Pin) -> pathlib.Path:
  """Runs `npm pack` in `workdir`; returns the tarball it wrote."""
  npm = shutil.which("npm")
  if npm is None:
    raise FetchError(f"npm not found on PATH: install Node.js (npm) to download {pin.package}, "
                     "or pass --tarball FILE")
  try:
    done = subprocess.run([npm, "pack", pin.package, "--silent"], cwd=workdir,
                          capture_output=True, text=True, timeout=1800, check=False)
  except (OSError, subprocess.TimeoutExpired) as error:
    raise FetchError(f"npm pack {pin.package} failed: {error}") from None
  tarballs = sorted(pathlib.Path(workdir).glob("*.tgz"))
  if done.returncode != 0 or not tarballs:
    lines = [l for l in (done.stderr + done.stdout).splitlines() if l.strip()]
    detail = lines[-1].strip() if lines else f"exit status {done.returncode}"
    raise FetchError(f"npm pack {pin.package} failed: {detail}")
  return tarballs[0]


@contextlib.contextmanager
def verified_tarball(pin: Pin, tarball=None):
  """Yields the path of the verified tarball: `tarball`, or a fresh `npm pack`."""
  if tarball:
    verify_tarball(tarball, pin)
    yield pathlib.Path(tarball)
    return
  with tempfile.TemporaryDirectory(prefix="pokevae-npm-") as workdir:
    path = npm_pack(workdir, pin)
    verify_tarball(path, pin)
    yield path
