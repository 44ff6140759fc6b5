"""Two people logged in at once through a real OIDC provider: each launches training from the Train page, each
sees their own jobs, and neither can cancel the other's. The CPU queue has no slots here, so the jobs wait in
the queue (and say why) instead of training: ownership is the same for a queued job, and the suite stays fast."""
import re

from playwright.sync_api import expect

from backend.data.demo import create_demo_datasets
from backend.jobs import manager
from backend.users import acting_as
from tests.browser_support import free_port
from tests.oidc_support import auth_secrets_toml, chromium_context, dashboard_with_auth, login, oidc_provider, redirect_uri_for

USERS = {"alice": "pw-alice-1", "bob": "pw-bob-1"}


def launch_training(page, url: str) -> str:
    page.goto(f"{url}/train?dataset=demo-guard")
    steps = page.get_by_role("spinbutton", name="max_steps")
    steps.fill("50")
    steps.press("Enter")
    page.get_by_role("button", name="Launch training").click()
    started = page.get_by_text(re.compile(r"Started \S+-train-\w+\."))
    started.wait_for(timeout=60_000)
    return re.search(r"Started (\S+)\.", started.inner_text()).group(1)


def job_options(page) -> list[str]:
    page.get_by_test_id("stSelectbox").filter(has_text="Job").click()
    options = [o.inner_text() for o in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    return options


def test_two_users_each_see_and_control_only_their_jobs(state, tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_GPUS", "")
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=0")  # this process schedules too (manager.wait): nothing starts
    create_demo_datasets()
    port = free_port()
    redirect = redirect_uri_for(port)
    with oidc_provider(tmp_path / "idp", USERS, redirect) as idp:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(auth_secrets_toml(idp, redirect, cookie_secret="two-users-cookie-secret-0123"))
        env = {"FTLAB_GPUS": "", "FTLAB_SLOTS": "cpu=0"}
        with dashboard_with_auth(state, secrets, env=env, port=port) as url, chromium_context() as new_page:
            alice, bob = new_page(), new_page()
            # the very first request to this server is a deep link: it still meets the login gate
            alice.goto(f"{url}/jobs?job=x")
            expect(alice.get_by_role("button", name="Log in", exact=True)).to_be_visible()
            expect(alice.get_by_role("heading", name="⚙️ Jobs")).to_have_count(0)
            login(alice, url, "alice", USERS["alice"])
            login(bob, url, "bob", USERS["bob"])
            alices_job = launch_training(alice, url)
            bobs_job = launch_training(bob, url)
            assert manager.get(alices_job).owner == "alice@lab.test"
            assert manager.get(bobs_job).owner == "bob@lab.test"

            # everyone sees the queue; "Only my jobs" narrows it to one's own
            bob.goto(f"{url}/jobs")
            assert set(job_options(bob)) >= {alices_job, bobs_job}
            bob.get_by_text("Only my jobs").click()
            expect(bob.get_by_text(re.compile(r"bob@lab\.test: 0 running, 1 queued"))).to_be_visible()
            bob.wait_for_timeout(500)
            assert job_options(bob) == [bobs_job]

            # bob looks at alice's job: told whose it is, and Cancel is disabled
            bob.goto(f"{url}/jobs?job={alices_job}")
            expect(bob.get_by_text("This job belongs to alice@lab.test")).to_be_visible()
            expect(bob.get_by_text(re.compile(r"Waiting: the cpu queue is full"))).to_be_visible()
            expect(bob.get_by_role("button", name="Cancel")).to_be_disabled()
            bob.screenshot(path=str(tmp_path / "bob-sees-alices-job.png"), full_page=True)

            # bob cancels his own; alice's stays in the queue
            bob.goto(f"{url}/jobs?job={bobs_job}")
            expect(bob.get_by_role("button", name="Cancel")).to_be_enabled()
            bob.get_by_role("button", name="Cancel").click()
            assert manager.wait(bobs_job, timeout=90).status == "cancelled"
            assert manager.get(alices_job).status == "queued"

            alice.goto(f"{url}/jobs?job={alices_job}")
            expect(alice.get_by_text("This job belongs to")).to_have_count(0)
            alice.get_by_role("button", name="Cancel").click()
            assert manager.wait(alices_job, timeout=90).status == "cancelled"
    with acting_as("bob@lab.test"):
        assert [j.id for j in manager.list_jobs(owner="bob@lab.test")] == [bobs_job]
