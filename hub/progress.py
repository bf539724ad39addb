"""Following a hub job over HTTP: ``hub sync`` asks for a job, then watches it to its end.

The CLI talks to a running hub through its JSON API (not through the database), so it works the
same against the embedded default and against a web server on another machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

# "stuck" is not final: the job waits for a live worker to take it over.
FINAL = ("succeeded", "failed", "superseded")

# Exit codes of ``hub sync``: scripts and cron jobs branch on these.
EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 3  # superseded: the work goes on in the job that replaced it

# A job still queued after this long most likely has no worker to run it: say so, keep waiting.
QUEUED_HINT_AFTER = 30.0


class HubUnavailable(Exception):
    """The hub could not be reached or refused the request; the message says which."""


@dataclass
class HubClient:
    """A small client for the hub's JSON API with one clear error for every way it fails."""

    url: str
    token: str
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=self.timeout,
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise HubUnavailable(
                f"the hub is not running at {self.url} (start it with `hub run`, "
                "or give its address with --url)"
            ) from None
        except httpx.TimeoutException:
            raise HubUnavailable(f"the hub at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise HubUnavailable(f"lost contact with the hub at {self.url}: {exc}") from None
        if response.status_code == 401:
            raise HubUnavailable(
                "the hub refused the credentials: pass --token, set HUB_API_TOKEN, "
                "or put a token in web.api_tokens"
            )
        if response.status_code == 403:
            raise HubUnavailable("the hub refused: this needs an admin's credentials")
        return response

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.request("GET", f"/api/jobs/{job_id}")
        if response.status_code != 200:
            raise HubUnavailable(f"job #{job_id}: {error_message(response)}")
        data: dict[str, Any] = response.json()
        return data

    def jobs(self, kind: str, limit: int = 10) -> list[dict[str, Any]]:
        response = self.request("GET", "/api/jobs", params={"kind": kind, "limit": limit})
        if response.status_code != 200:
            raise HubUnavailable(f"job list: {error_message(response)}")
        jobs: list[dict[str, Any]] = response.json()["jobs"]
        return jobs


def error_message(response: httpx.Response) -> str:
    """The hub's error message, or the status line when the body is not the hub's JSON."""
    try:
        error = response.json().get("error", {})
        message = error.get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"HTTP {response.status_code} {response.reason_phrase}")


def exit_code(status: str) -> int:
    if status == "succeeded":
        return EXIT_SUCCEEDED
    if status == "failed":
        return EXIT_FAILED
    return EXIT_INTERRUPTED


def follow(
    client: HubClient,
    job_id: int,
    *,
    console: Console,
    interval: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    queued_hint_after: float = QUEUED_HINT_AFTER,
) -> dict[str, Any]:
    """Watch job ``job_id`` with a progress bar until it ends; returns its last state."""
    started = time.monotonic()
    hinted = False
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[phase]}"),
        TextColumn("[red]{task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    # transient: the bar disappears at the end and the one-line outcome stays in the log.
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"job #{job_id}", total=None, phase="queued", failed="")
        while True:
            job = client.job(job_id)
            failed = int(job.get("failed") or 0)
            progress.update(
                task,
                description=f"#{job_id} {job['kind']}",
                completed=int(job.get("done") or 0),
                total=job.get("total"),  # None until the job knows: a pulsing bar
                phase=job.get("phase") or job["status"],
                failed=f"{failed} failed" if failed else "",
            )
            if job["status"] in FINAL:
                return job
            if (
                not hinted
                and job["status"] == "queued"
                and time.monotonic() - started >= queued_hint_after
            ):
                hinted = True
                progress.console.print(
                    f"job #{job_id} is still queued: is a worker running? (`hub run` runs one; "
                    "a scaled-out hub needs `hub worker`). Ctrl-C stops watching."
                )
            sleep(interval)


def outcome_line(job: dict[str, Any]) -> str:
    """One line that says how a job ended, for people and for logs."""
    total = f"/{job['total']}" if job.get("total") is not None else ""
    text = (
        f"job #{job['id']} {job['kind']} {job['status']}: "
        f"{job.get('done') or 0}{total} done, {job.get('failed') or 0} failed"
    )
    if job.get("pending"):
        text += f", {job['pending']} pending"
    if job["status"] == "superseded" and job.get("superseded_by"):
        text += f" (replaced by job #{job['superseded_by']}; follow it with `hub jobs`)"
    elif job["status"] == "stuck":
        text += " (its worker stopped; a live worker takes it over from its checkpoint)"
    elif job["status"] == "failed" and job.get("retry_at"):
        text += f"; tried again at {str(job['retry_at'])[:19]} UTC"
    return text
