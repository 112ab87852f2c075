"""Which digests a download computes, and that the one it checks still catches bad bytes."""

from __future__ import annotations

import hashlib

import pytest

from ferry import transfer
from ferry.migrators import MIGRATORS
from ferry.model import ItemKey, SourceItem

DATA = b"payload " * 5000


class Body:
    """Enough of a requests.Response for transfer.download."""

    def __init__(self, data: bytes):
        self.data = data

    def iter_content(self, size):
        for i in range(0, len(self.data), size):
            yield self.data[i:i + size]

    def close(self):
        pass


def item(**checksums) -> SourceItem:
    return SourceItem(key=ItemKey("generic", "ns", "pkg", "1.0", "file.bin"), size=len(DATA), checksums=checksums)


def all_sums(data: bytes) -> dict[str, str]:
    return {algo: hashlib.new(algo, data).hexdigest() for algo in ("md5", "sha1", "sha256", "sha512")}


def test_sha256_and_the_strongest_listed_digest_are_computed():
    sums = all_sums(DATA)
    assert transfer.digests_for(item(**sums)) == ("sha256",)
    assert transfer.digests_for(item(md5=sums["md5"], sha1=sums["sha1"])) == ("sha256", "sha1")
    assert transfer.digests_for(item(md5=sums["md5"])) == ("sha256", "md5")
    assert transfer.digests_for(item()) == ("sha256",)
    assert transfer.digests_for(item(sha512=sums["sha512"], md5=sums["md5"])) == ("sha256", "sha512")
    # a format's publish may need more: npm sends SHA-1 (shasum) and SHA-512 (integrity)
    assert transfer.digests_for(item(md5=sums["md5"]), MIGRATORS["npm"].digests) == ("sha256", "sha512", "sha1",
                                                                                      "md5")


def test_download_computes_only_the_chosen_digests(tmp_path):
    sums = all_sums(DATA)
    source = item(**sums)
    spooled = transfer.download(lambda: Body(DATA), source, tmp_path, digests=transfer.digests_for(source))
    assert spooled.checksums.sha256 == sums["sha256"]
    assert spooled.checksums.md5 is None and spooled.checksums.sha1 is None and spooled.checksums.sha512 is None
    assert spooled.path.read_bytes() == DATA


@pytest.mark.parametrize("listed", ["sha256", "sha512", "sha1", "md5"])
def test_bad_bytes_are_caught_by_whichever_digest_the_source_lists(tmp_path, listed):
    bad = DATA[:-1] + b"!"
    source = item(**{listed: all_sums(DATA)[listed]})
    with pytest.raises(transfer.ChecksumMismatch, match=f"source says {listed} "):
        transfer.download(lambda: Body(bad), source, tmp_path, digests=transfer.digests_for(source))


# A source in use keeps changing while it is migrated: a file overwritten or deleted between the listing and
# its download must fail with a reason that says so (no bytes published), not one that only blames the source.

def test_bytes_that_differ_from_the_listing_say_the_file_may_have_changed_since(tmp_path):
    listed = item(**all_sums(DATA))
    with pytest.raises(transfer.ChecksumMismatch) as same_size:
        transfer.download(lambda: Body(DATA[:-3] + b"new"), listed, tmp_path)
    with pytest.raises(transfer.ChecksumMismatch) as smaller:
        transfer.download(lambda: Body(DATA[:100]), listed, tmp_path)
    with pytest.raises(transfer.ChecksumMismatch) as larger:
        transfer.download(lambda: Body(DATA + b"more"), listed, tmp_path)
    for caught in (same_size, smaller, larger):
        reason = str(caught.value)
        assert reason.endswith("; the file changed in the source after it was listed, or the source sent it "
                               "corrupt: nothing was published, and a rerun lists it again"), reason
    assert str(smaller.value).startswith(f"source lists {len(DATA)} bytes but sent 100;")


def test_a_file_deleted_after_the_listing_says_the_source_no_longer_has_it(tmp_path):
    from ferry.http import raise_for_status

    import requests

    def gone():
        response = requests.Response()
        response.status_code = 404
        raise_for_status(response, "download generic:ns/pkg@1.0/file.bin", refused=("refused", "check"))

    with pytest.raises(transfer.ItemError) as caught:
        transfer.download(gone, item(**all_sums(DATA)), tmp_path)
    assert str(caught.value) == ("download generic:ns/pkg@1.0/file.bin: not found (HTTP 404): the source listed it "
                                 "but no longer has it (deleted or replaced after it was listed): nothing was "
                                 "published, and a rerun lists the source again")
