"""Read-your-writes across processes: a write answered by one API process is visible to a
read on the other at once, with the projector in a third process.

The write's API process waits until the read model has applied its event, told by the
projector's commit (PostgreSQL NOTIFY from the batch transaction), not by polling; the
other API process then reads the committed row. No read retries: the first read must
show the write, and no write may have waited out its timeout instead of being told.
"""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Processes, two_apis


def test_a_write_on_one_api_process_is_read_on_the_other_at_once(
    distributed_env: dict[str, str], redis_url: str, processes: Processes
) -> None:
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url}
    ports, (writer, reader), _ = two_apis(processes, env)
    login = httpx.post(f"{writer}/api/v1/auth/dev-login", timeout=30,
                       json={"email": "ryw@example.com", "name": "Ryw"}).json()["data"]  # fmt: skip
    headers = {"Authorization": f"Bearer {login['accessToken']}"}
    with httpx.Client(timeout=30, headers=headers) as client:
        for round_ in range(20):
            bio = f"I practise Korean every morning ({round_})"
            written = client.post(f"{writer}/api/v1/users/self-bio", json={"selfBio": bio})
            assert written.status_code == 200, written.text
            assert "x-read-your-writes" not in written.headers  # not answered late
            profile = client.get(f"{reader}/api/v1/users/profile").json()["data"]
            assert profile["selfBio"] == bio, (round_, profile)
            writer, reader = reader, writer  # and the other way round
    # Each write was told its read model had applied it; none waited out its timeout.
    for port in ports:
        assert "read-your-writes wait" not in processes.log(f"api{port}")
