"""The store's core behaviour, the same on a single redis-server and on a 3-master Redis Cluster with WAIT 1."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from redis.crc import key_slot

from keys.answer import State
from verify_api import keyspace
from verify_api.store import Outcome, Store, StoreUnavailable

from .records import NOW, qr, record

ACTOR = "issuer:210100:test"
RETENTION = timedelta(days=180)


def test_register_then_read(store: Store) -> None:
    raw = record(1)
    change = store.register(raw, qr(raw), ACTOR, NOW)
    assert change.outcome is Outcome.CREATED and change.after is State.VALID and change.version == 1
    stored = store.get(raw.registration_no)
    assert stored is not None and stored.record == raw and stored.state is State.VALID
    assert stored.qr_text == qr(raw) and stored.version == 1 and stored.issuer == "210100"
    assert store.get(raw.registration_no, 1) == stored
    assert store.by_licence(raw.licence_id) == (raw.registration_no, 1)
    assert [e["action"] for e in store.history(raw.registration_no)] == ["register"]
    assert store.get("辽A-SY-2024-99999") is None and store.get(raw.registration_no, 2) is None


def test_registering_again_is_idempotent(store: Store) -> None:
    raw = record(2)
    assert store.register(raw, qr(raw), ACTOR, NOW).outcome is Outcome.CREATED
    again = store.register(raw, qr(raw), ACTOR, NOW + timedelta(minutes=5))
    assert again.outcome is Outcome.UNCHANGED and again.detail == ""
    assert [e.registration_no for e in store.feed()] == [raw.registration_no]
    assert len(store.history(raw.registration_no)) == 1


def test_conflicts_and_foreign_issuers(store: Store) -> None:
    raw = record(3)
    store.register(raw, qr(raw), ACTOR, NOW)
    other_payload = store.register(raw, qr(raw, salt="x"), ACTOR, NOW)
    assert other_payload.outcome is Outcome.CONFLICT and "another payload" in other_payload.detail
    v2 = replace(raw, version=2)
    assert store.register(v2, qr(v2), ACTOR, NOW).outcome is Outcome.CONFLICT  # a new version is a correction
    foreign = replace(raw, issuer=replace(raw.issuer, code="210200"))
    assert store.register(foreign, qr(foreign, salt="y"), "issuer:210200:t", NOW).outcome is Outcome.CONFLICT
    assert store.change_status(raw.registration_no, State.SUSPENDED, "x", "issuer:210200:t", NOW,
                               issuer="210200").outcome is Outcome.FORBIDDEN
    assert store.get(raw.registration_no).state is State.VALID


def test_status_transitions(store: Store) -> None:
    raw = record(4)
    reg = raw.registration_no
    store.register(raw, qr(raw), ACTOR, NOW)
    steps = [(State.SUSPENDED, Outcome.CHANGED), (State.SUSPENDED, Outcome.REFUSED), (State.VALID, Outcome.CHANGED),
             (State.REVOKED, Outcome.CHANGED), (State.VALID, Outcome.REFUSED), (State.ENDED, Outcome.CHANGED),
             (State.SUSPENDED, Outcome.REFUSED)]
    state = State.VALID
    for target, expected in steps:
        change = store.change_status(reg, target, f"to {target.value}", ACTOR, NOW, issuer="210100")
        assert change.outcome is expected, (target, change)
        if expected is Outcome.CHANGED:
            assert (change.before, change.after) == (state, target)
            state = target
        else:
            assert change.before is state and target.value in change.detail
        assert store.get(reg).state is state
    assert store.get(reg).reason == "to ended"
    assert store.change_status("辽A-SY-2024-99998", State.SUSPENDED, "x", ACTOR, NOW,
                               issuer="210100").outcome is Outcome.NOT_FOUND
    paper = record(5, paper=True, licence_id=None, issued_on=date(2023, 5, 1))
    assert store.register(paper, None, ACTOR, NOW).after is State.PAPER_LEGACY
    store.change_status(paper.registration_no, State.SUSPENDED, "check", ACTOR, NOW, issuer="210100")
    back = store.change_status(paper.registration_no, State.VALID, "ok", ACTOR, NOW, issuer="210100")
    assert back.after is State.PAPER_LEGACY  # a paper certificate is valid as paper_legacy


def test_correction_supersedes_the_old_version(store: Store) -> None:
    raw = record(6)
    reg = raw.registration_no
    store.register(raw, qr(raw), ACTOR, NOW)
    v2 = replace(raw, version=2, project=replace(raw.project, position="7#楼南侧"))
    change = store.correct(v2, qr(v2), "position corrected", ACTOR, NOW, issuer="210100")
    assert change.outcome is Outcome.CREATED and change.version == 2
    old, new = store.get(reg, 1), store.get(reg)
    assert old.state is State.SUPERSEDED and old.superseded_by == 2 and old.reason == "position corrected"
    assert new.version == 2 and new.state is State.VALID and new.record.project.position == "7#楼南侧"
    assert store.by_licence(raw.licence_id) == (reg, 2)
    assert store.correct(v2, qr(v2), "again", ACTOR, NOW, issuer="210100").outcome is Outcome.UNCHANGED  # a retry
    assert store.correct(replace(v2, version=3), qr(v2, "3"), "x", "issuer:210200:t", NOW,
                         issuer="210200").outcome is Outcome.FORBIDDEN
    feed = [(e.version, e.state, e.superseded_by) for e in store.feed() if e.registration_no == reg]
    assert feed == [(1, State.VALID, None), (1, State.SUPERSEDED, 2), (2, State.VALID, None)]


@pytest.mark.parametrize(("state", "outcome"), [(State.SUSPENDED, Outcome.CREATED), (State.REVOKED, Outcome.REFUSED),
                                                (State.ENDED, Outcome.REFUSED)])
def test_only_a_certificate_in_force_or_suspended_is_corrected(store: Store, state: State, outcome: Outcome) -> None:
    raw = record(8)
    reg = raw.registration_no
    store.register(raw, qr(raw), ACTOR, NOW)
    store.change_status(reg, state, "x", ACTOR, NOW, issuer="210100")
    v2 = replace(raw, version=2)
    change = store.correct(v2, qr(v2), "position corrected", ACTOR, NOW, issuer="210100")
    assert change.outcome is outcome
    assert store.get(reg).version == (2 if outcome is Outcome.CREATED else 1)


def test_feed_keeps_the_order_of_changes_across_shards(store: Store, backend) -> None:
    raws = [record(100 + i, city=i % 3) for i in range(40)]
    expected = []
    for raw in raws:
        store.register(raw, qr(raw), ACTOR, NOW)
        expected.append((raw.registration_no, State.VALID))
    for raw in raws[::3]:
        issuer = raw.issuer.code
        store.change_status(raw.registration_no, State.SUSPENDED, "inspection", f"issuer:{issuer}:t", NOW,
                            issuer=issuer)
        expected.append((raw.registration_no, State.SUSPENDED))
    if backend.cluster is not None:  # the registrations really are spread over the masters
        owners = backend.cluster.slot_owners()
        used = {owners[key_slot(keyspace.certificate(r.registration_no).encode())].port for r in raws}
        assert len(used) == 3
    entries, cursor = [], "0"
    while page := store.feed(cursor, count=7):  # paging with the cursor resumes exactly where it stopped
        entries += page
        cursor = page[-1].cursor
    assert [(e.registration_no, e.state) for e in entries] == expected
    ids = [tuple(map(int, e.cursor.split("-"))) for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_audit_records_every_change_and_refusals_go_to_their_own_log(store: Store) -> None:
    raw = record(7)
    reg = raw.registration_no
    store.register(raw, qr(raw), ACTOR, NOW)
    store.change_status(reg, State.SUSPENDED, "site stopped", ACTOR, NOW, issuer="210100")
    store.record_denied("issuer:210200:t", "status", reg, NOW, "token of 210200 used for 210100", "210100", RETENTION)
    token_id, _ = store.create_token("210200", NOW)
    entries = store.audit()
    assert [(e.actor, e.action, e.registration_no) for e in entries] == [
        (ACTOR, "register", reg), (ACTOR, "status", reg), ("operator", "token:create", "")]
    assert entries[1].before == {"state": "valid"} and entries[1].after == {"state": "suspended", "reason": "site stopped"}
    assert entries[2].after == {"token_id": token_id, "issuer": "210200", "role": "issuer"}
    assert store.audit(issuer="210200") == [] and [e.action for e in store.audit(issuer="210100")] == ["register", "status"]
    assert [e.action for e in store.audit(after=entries[1].id)] == ["token:create"]
    refused = store.refusals()
    assert [(e.actor, e.action, e.registration_no, e.reason, e.owner) for e in refused] == [
        ("issuer:210200:t", "status", reg, "token of 210200 used for 210100", "210100")]
    # the owner and the one who tried each read it in their own log
    assert store.refusals(issuer="210100") == store.refusals(issuer="210200") == refused
    assert store.refusals(after=refused[0].id) == []


def test_refusals_older_than_the_retention_are_dropped_on_the_next_append(store: Store) -> None:
    reg = record(8).registration_no
    for minutes in range(3):
        store.record_denied("issuer:210200:t", "read", reg, NOW + timedelta(minutes=minutes), "x", "210100", RETENTION)
    assert len(store.refusals()) == 3
    later = NOW + RETENTION + timedelta(minutes=1, seconds=30)   # the first two are now older than the retention
    store.record_denied("issuer:210200:t", "status", reg, later, "x", "210100", RETENTION)
    for issuer in (None, "210100", "210200"):
        kept = store.refusals(issuer=issuer)
        assert [(e.action, e.at) for e in kept] == [("read", (NOW + timedelta(minutes=2)).isoformat()),
                                                    ("status", later.isoformat())], issuer
    # a clock that went back still appends after the last entry, and nothing recent is dropped
    store.record_denied("issuer:210200:t", "read", reg, later - timedelta(minutes=5), "x", "210100", RETENTION)
    ids = [tuple(map(int, e.id.split("-"))) for e in store.refusals()]
    assert len(ids) == 3 and ids == sorted(ids) and len(set(ids)) == 3


def test_tokens_are_checked_and_revoked(store: Store) -> None:
    token_id, token = store.create_token("210100", NOW, note="test")
    assert store.check_token(token, NOW) == (token_id, "210100")
    assert store.check_token(token[:-1] + ("A" if token[-1] != "A" else "B"), NOW) is None
    assert store.check_token("crv_000000000000_" + "x" * 43, NOW) is None and store.check_token("nonsense", NOW) is None
    raw_hash = store.client.hgetall(keyspace.token(token_id))
    assert token.split("_", 2)[2] not in str(raw_hash)  # only the hash is stored
    assert store.revoke_token(token_id, NOW) and store.check_token(token, NOW) is None
    assert not store.revoke_token("ffffffffffff", NOW)


def test_bulk_import_spans_every_shard_in_order(store: Store) -> None:
    raws = [record(1000 + i, city=i % 3) for i in range(1100)]
    items = [(raw, qr(raw)) for raw in raws]
    changes = list(store.register_many(items, "operator:import", NOW, batch=400))
    assert [c.outcome for c in changes] == [Outcome.CREATED] * len(raws)
    assert [c.version for c in changes] == [1] * len(raws)
    again = list(store.register_many(items[:10] + [(raws[0], qr(raws[0], "other"))], "operator:import", NOW))
    assert [c.outcome for c in again] == [Outcome.UNCHANGED] * 10 + [Outcome.CONFLICT]
    feed = store.feed(count=5000)
    assert [e.registration_no for e in feed] == [r.registration_no for r in raws]
    assert all(e.state is State.VALID and e.record_no for e in feed)
    assert len(store.audit(count=5000)) == len(raws)
    for raw in raws[::97]:
        assert store.get(raw.registration_no).record == raw
        assert store.by_licence(raw.licence_id) == (raw.registration_no, 1)


def test_an_import_cut_off_before_publishing_is_repaired_by_importing_again(store: Store,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [record(2000 + i, city=i % 3) for i in range(30)]
    items = [(raw, qr(raw)) for raw in raws]
    real_write, calls = store.transport.write, []

    def crash_after_the_scripts(ops):
        calls.append(len(ops))
        if len(calls) == 3:  # after the e-licence claims and the registration scripts
            raise StoreUnavailable("simulated crash before the feed entries")
        return real_write(ops)

    monkeypatch.setattr(store.transport, "write", crash_after_the_scripts)
    with pytest.raises(StoreUnavailable):
        list(store.register_many(items, "operator:import", NOW))
    monkeypatch.setattr(store.transport, "write", real_write)
    assert store.feed() == [] and store.get(raws[0].registration_no).state is State.VALID
    changes = list(store.register_many(items, "operator:import", NOW))
    assert [c.outcome for c in changes] == [Outcome.UNCHANGED] * len(raws)
    assert sorted(e.registration_no for e in store.feed()) == sorted(r.registration_no for r in raws)
    assert store.by_licence(raws[-1].licence_id) == (raws[-1].registration_no, 1)
    again = list(store.register_many(items, "operator:import", NOW))  # published now: nothing repeats
    assert {c.outcome for c in again} == {Outcome.UNCHANGED} and len(store.feed()) == len(raws)


def test_every_key_of_a_registration_shares_one_slot() -> None:
    reg = "辽A-SY-2024-00456"
    slots = {key_slot(k.encode()) for k in (keyspace.certificate(reg), keyspace.version(reg, 1),
                                            keyspace.version(reg, 7), keyspace.history(reg))}
    assert len(slots) == 1
    # the version key a script derives from the certificate key (KEYS[1] .. ':v' .. latest) is that slot too
    assert keyspace.version(reg, 3) == keyspace.certificate(reg) + ":v3"


def _cut_publication_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Store._publish

    def cut(self, *args, **kwargs):
        monkeypatch.setattr(Store, "_publish", real)
        raise StoreUnavailable("simulated failover between the change and its feed entry")

    monkeypatch.setattr(Store, "_publish", cut)


def test_a_retried_status_change_publishes_what_a_failover_cut_off(store: Store,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    raw = record(3000)
    reg = raw.registration_no
    store.register(raw, qr(raw), ACTOR, NOW)
    _cut_publication_once(monkeypatch)
    with pytest.raises(StoreUnavailable):
        store.change_status(reg, State.SUSPENDED, "site stopped", ACTOR, NOW, issuer="210100")
    assert store.get(reg).state is State.SUSPENDED and len(store.feed()) == 1  # committed, not published
    retry = store.change_status(reg, State.SUSPENDED, "site stopped", ACTOR, NOW, issuer="210100")
    assert retry.outcome is Outcome.REFUSED and retry.before is State.SUSPENDED
    assert [(e.registration_no, e.state) for e in store.feed()] == [(reg, State.VALID), (reg, State.SUSPENDED)]
    last = store.audit()[-1]
    assert (last.action, last.before, last.after) == ("status", {"state": "valid"},
                                                       {"state": "suspended", "reason": "site stopped"})
    store.change_status(reg, State.SUSPENDED, "again", ACTOR, NOW, issuer="210100")
    assert len(store.feed()) == 2  # published now: a further refusal adds nothing


def test_a_retried_correction_publishes_what_a_failover_cut_off(store: Store,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    raw = record(3001)
    reg = raw.registration_no
    store.register(raw, qr(raw), ACTOR, NOW)
    v2 = replace(raw, version=2, project=replace(raw.project, position="8#楼东侧"))
    _cut_publication_once(monkeypatch)
    with pytest.raises(StoreUnavailable):
        store.correct(v2, qr(v2), "position corrected", ACTOR, NOW, issuer="210100")
    retry = store.correct(v2, qr(v2), "position corrected", ACTOR, NOW, issuer="210100")
    assert retry.outcome is Outcome.UNCHANGED  # the correction is there: answered like a repeated registration
    feed = [(e.version, e.state, e.superseded_by) for e in store.feed()]
    assert feed == [(1, State.VALID, None), (1, State.SUPERSEDED, 2), (2, State.VALID, None)]
    assert store.by_licence(raw.licence_id) == (reg, 2)
