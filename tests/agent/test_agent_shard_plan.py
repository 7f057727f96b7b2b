"""prepare_targets keeps only this replica's share of the configured targets."""

from __future__ import annotations

from pathlib import Path

from otel_genesys.agent.runner import prepare_targets
from otel_genesys.config import load_config
from otel_genesys.core.sharding import owner_shard


def _settings(tmp_path: Path, names: list[str], count: int) -> Path:
    lines = [f"[sharding]\nshard_count = {count}\n"]
    for name in names:
        lines.append(f'[targets.{name}]\nurl = "ws://127.0.0.1:9/{name}"\n')
    path = tmp_path / "settings.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


async def test_each_replica_gets_its_rendezvous_share(tmp_path: Path) -> None:
    names = [f"org-{i}" for i in range(12)]
    path = _settings(tmp_path, names, 3)
    seen: list[str] = []
    for index in range(3):
        config = load_config(path, env={"HOSTNAME": f"otel-genesys-{index}"})
        plan = await prepare_targets(config)
        assert plan.emulator is None
        mine = [t.name for t in plan.targets]
        assert mine == [n for n in names if owner_shard(n, 3) == index]
        seen += mine
    assert sorted(seen) == sorted(names)


async def test_an_empty_share_does_not_start_the_emulator(tmp_path: Path) -> None:
    # with one target and two replicas, exactly one replica owns it
    path = _settings(tmp_path, ["only-one"], 2)
    owner = owner_shard("only-one", 2)
    config = load_config(path, env={"HOSTNAME": f"otel-genesys-{1 - owner}"})
    plan = await prepare_targets(config)
    assert plan.targets == () and plan.emulator is None
    config = load_config(path, env={"HOSTNAME": f"otel-genesys-{owner}"})
    assert [t.name for t in (await prepare_targets(config)).targets] == ["only-one"]


async def test_command_line_urls_are_never_sharded(tmp_path: Path) -> None:
    path = _settings(tmp_path, ["only-one"], 2)
    owner = owner_shard("only-one", 2)
    config = load_config(path, env={"HOSTNAME": f"otel-genesys-{1 - owner}"})
    plan = await prepare_targets(config, target_urls=["ws://127.0.0.1:9/extra"])
    assert [t.name for t in plan.targets] == ["target"]
