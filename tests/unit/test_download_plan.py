"""Choosing what to download from a hub listing, and reading a node's cache listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cluster import commands as cmd
from app.downloads.hub import HubFile, RepoListing
from app.downloads.plan import select_files
from app.downloads.verify import parse_listing, weights_from_listing

SHA = "a" * 64


def listing(*files: tuple[str, int, bool]) -> RepoListing:
    return RepoListing(
        repo="org/model",
        commit="c" * 40,
        gated=False,
        files=tuple(
            HubFile(path, size, f"{i:040x}", f"{i:064x}" if lfs else None)
            for i, (path, size, lfs) in enumerate(files)
        ),
    )


def test_gpt_oss_layout_takes_one_copy_of_the_weights() -> None:
    plan = select_files(
        listing(
            ("config.json", 1000, False),
            ("generation_config.json", 100, False),
            ("tokenizer.json", 27_000_000, False),
            ("tokenizer_config.json", 4000, False),
            ("chat_template.jinja", 16_000, False),
            ("special_tokens_map.json", 100, False),
            ("model.safetensors.index.json", 50_000, False),
            ("model-00000-of-00002.safetensors", 4_600_000_000, True),
            ("model-00001-of-00002.safetensors", 4_600_000_000, True),
            ("original/model--00001-of-00002.safetensors", 4_600_000_000, True),
            ("original/config.json", 500, False),
            ("metal/model.bin", 9_000_000_000, True),
            ("README.md", 7000, False),
            (".gitattributes", 1500, False),
            ("LICENSE", 11000, False),
            ("USAGE_POLICY", 200, False),
            ("figure.png", 100_000, True),
        )
    )
    assert sorted(f.path for f in plan.files) == [
        "chat_template.jinja",
        "config.json",
        "generation_config.json",
        "model-00000-of-00002.safetensors",
        "model-00001-of-00002.safetensors",
        "model.safetensors.index.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert (
        plan.total_bytes == 9_200_000_000 + 27_000_000 + 1000 + 100 + 4000 + 16_000 + 100 + 50_000
    )
    lfs = [f for f in plan.files if f.lfs]
    assert all(f.blob == f.sha256 for f in lfs)
    assert all(f.blob != f.sha256 for f in plan.files if not f.lfs)


def test_mistral_consolidated_copy_and_pytorch_bins_are_skipped() -> None:
    plan = select_files(
        listing(
            ("config.json", 10, False),
            ("consolidated.safetensors", 500, True),
            ("model-00001-of-00001.safetensors", 500, True),
            ("pytorch_model.bin", 500, True),
            ("tekken.json", 20, False),
            ("tokenizer.model", 30, True),
            ("modeling_custom.py", 40, False),
            ("params.json", 5, False),
        )
    )
    assert sorted(f.path for f in plan.files) == [
        "config.json",
        "model-00001-of-00001.safetensors",
        "modeling_custom.py",
        "params.json",
        "tekken.json",
        "tokenizer.model",
    ]


def test_pytorch_only_repo_and_a_repo_with_no_weights() -> None:
    plan = select_files(listing(("config.json", 1, False), ("pytorch_model.bin", 9, True)))
    assert [f.path for f in plan.files] == ["config.json", "pytorch_model.bin"]
    with pytest.raises(ValueError, match="no weights vLLM can load"):
        select_files(listing(("config.json", 1, False), ("model.gguf", 9, True)))


def test_cache_listing_parse_counts_partials_and_flags_what_cannot_resume() -> None:
    plan = select_files(listing(("config.json", 10, False), ("model.safetensors", 1000, True)))
    config, weights = plan.files
    rev = plan.revision
    out = "\n".join(
        [
            f"d\t4096\tsnapshots/{rev}\t",
            f"l\t52\tsnapshots/{rev}/config.json\t../../blobs/{config.blob}",
            f"f\t10\tblobs/{config.blob}\t",
            f"f\t400\tblobs/{weights.blob}.0123abcd.incomplete\t",
            "garbage line",
            f"f\tx\tblobs/{weights.blob}\t",
        ]
    )
    state = weights_from_listing("spark1", plan, parse_listing(out, rev))
    assert state.missing_files == ["model.safetensors"]
    assert state.bytes_done == 410
    assert state.bad_blobs == [f"{weights.blob}.0123abcd.incomplete"]
    # rsync's partial copy under the final name is kept (resumed), a too-big one is not
    out2 = out + f"\nf\t1200\tblobs/{weights.blob}\t"
    state2 = weights_from_listing("spark2", plan, parse_listing(out2, rev))
    assert weights.blob in state2.bad_blobs and state2.bytes_done == 410


def test_remote_commands_quote_what_they_are_given() -> None:
    evil = "org/x; rm -rf ~ $(reboot)"
    line = cmd.render(
        cmd.hf_download_container(
            image="vllm-node",
            name="spark-control-download-1",
            cache_dir="/home/n/.cache/huggingface",
            user="1000:1000",
            endpoint="https://huggingface.co",
            repo=evil,
            revision="main",
            files=["-rf", "a b.json"],
            with_token=True,
        )
    )
    assert "'org/x; rm -rf ~ $(reboot)'" in line
    assert line.endswith("-- -rf 'a b.json'") and "HF_TOKEN=" not in line
    with pytest.raises(ValueError):
        cmd.hf_download_container(
            image="i", name="n", cache_dir="~/x", user="1:1", endpoint="e", repo="r",
            revision="v", files=[], with_token=False,
        )  # fmt: skip
    with pytest.raises(ValueError):
        cmd.write_stdin("/etc/passwd")
    rsync = cmd.render(
        cmd.rsync_push(
            source="models--a--b",
            user="nvidia",
            host="fe80::1",
            port=22,
            dest="/data/hf/hub/models--a--b",
        )
    )
    assert rsync.endswith("-- models--a--b/ 'nvidia@[fe80::1]:/data/hf/hub/models--a--b/'")


def test_the_fake_hubs_generated_weights_are_what_the_fake_vllm_accepts(tmp_path: Path) -> None:
    """A ``sparksim/*`` repo is loadable: a supported architecture and a safetensors file
    whose header covers the whole file (else every Download-then-swap would be refused)."""
    import json as _json

    from scripts.sparksim import hfcache, hubrepos

    repo = hubrepos.build_repo("sparksim/anything", 3 * 1024 * 1024 + 5)
    big = repo.file("model.safetensors")
    config = repo.file("config.json")
    assert big is not None and config is not None and config.content is not None
    target = tmp_path / "model.safetensors"
    target.write_bytes(hubrepos.read_file(repo.repo, big, 0, big.size))
    assert target.stat().st_size == big.size
    assert hfcache.safetensors_problem(target) is None
    assert _json.loads(config.content)["architectures"][0] in hfcache.SUPPORTED_ARCHITECTURES
    target.write_bytes(target.read_bytes()[: big.size // 2])
    assert hfcache.safetensors_problem(target) == "incomplete metadata, file not fully covered"
