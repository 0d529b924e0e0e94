"""crane-keys: keys, the trust list, issuing and checking QR payloads."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import segno

from .algorithms import Alg, PrivateKey, PublicKey
from .answer import SIGNATURE_LABELS
from .cli_env import Environment, ExitStatus, parse_time, run
from .documents.layout import make_demo_document, seal_picture
from .documents.seal_keys import SealIdentity, load_identity, make_seal_certificate, make_seal_root
from .documents.sealing import SealSpec, seal_ofd
from .errors import RecordError
from .identifiers import validate_credit_code
from .payload import issue as issue_payload
from .payload import verify_at
from .record import Record
from .trustlist import IssuerContact, KeyRole, KeyState, SignedTrustList, TrustedIssuer, TrustedKey, TrustList

PASSPHRASE_HELP = "name of an environment variable holding the private key's passphrase"  # noqa: S105


def read_private(path: str, env: Environment, passphrase_env: str | None) -> PrivateKey:
    return PrivateKey.from_pem(Path(path).read_bytes(), _passphrase(env, passphrase_env))


def _passphrase(env: Environment, name: str | None) -> bytes | None:
    if name is None:
        return None
    if name not in env.vars:
        raise click.BadParameter(f"environment variable {name} is not set", param_hint="--passphrase-env")
    return env.vars[name].encode("utf-8")


def load_trust(path: str, root_pub: str) -> TrustList:
    """A trust list, only when it checks against the pinned root public key."""
    pinned = PublicKey.from_pem(Path(root_pub).read_bytes())
    return SignedTrustList.loads(Path(path).read_bytes()).verify(pinned)


def _read_draft(path: Path) -> TrustList:
    return SignedTrustList.loads(path.read_bytes()).unverified() if path.exists() else TrustList()


def _save_draft(path: Path, trust: TrustList) -> None:
    """Any change makes a new list: a new serial and no signatures until it is signed again."""
    trust = replace(trust, serial=trust.serial + 1 if path.exists() else 1)
    path.write_bytes(SignedTrustList(trust.body()).dumps())


@click.group(help="Keys, trust list, and signed QR payloads for crane registration certificates.")
def cli() -> None:
    pass


@cli.command(help="Generate a root key (--root) or an issuer/feed key (--issuer CODE).")
@click.option("--root", "is_root", is_flag=True, help="generate the trust list's root key")
@click.option("--issuer", help="6-digit division code of the issuing authority, e.g. 210100")
@click.option("--alg", type=click.Choice([a.value for a in Alg]), default=Alg.EDDSA.value, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--passphrase-env", help=PASSPHRASE_HELP)
@click.pass_obj
def generate(env: Environment, is_root: bool, issuer: str | None, alg: str, out: str,
             passphrase_env: str | None) -> None:
    if is_root == bool(issuer):
        raise click.UsageError("give exactly one of --root or --issuer CODE")
    key = PrivateKey.generate(Alg(alg))
    pub = key.public_key()
    stem = "root" if is_root else pub.kid
    out_dir = Path(out)
    key_path, pub_path = out_dir / f"{stem}.key.pem", out_dir / f"{stem}.pub.pem"
    if key_path.exists():
        raise click.UsageError(f"{key_path} exists; refusing to overwrite a private key")
    key.write(key_path, _passphrase(env, passphrase_env))
    pub_path.write_bytes(pub.pem())
    env.out(f"private key: {key_path} (mode 0600)")
    env.out(f"public key:  {pub_path}")
    env.out(pub.kid)


@cli.group(help="Edit, sign and show a trust list.")
def trust() -> None:
    pass


@trust.command("add", help="Add (or replace) a public key and its issuer in a trust list.")
@click.argument("pub", type=click.Path(exists=True, dir_okay=False))
@click.option("--issuer", required=True)
@click.option("--name", required=True, help="the authority's name, e.g. 沈阳市城乡建设局")
@click.option("--credit-code", help="the authority's 18-character unified social credit code")
@click.option("--role", type=click.Choice([r.value for r in KeyRole]), default=KeyRole.ISSUER.value)
@click.option("--not-before")
@click.option("--not-after")
@click.option("--number-prefix", "number_prefixes", multiple=True,
              help="a registration-number prefix the issuer owns, e.g. 辽A- (repeat for more); without any, the "
                   "issuer keeps the number space the list gives it already")
@click.option("--contact-phone", default="", help="the authority's public phone, shown on refused certificates' pages")
@click.option("--contact-address", default="", help="the authority's public address")
@click.option("--contact-url", default="", help="the authority's public web page (http or https)")
@click.option("--trust", "trust_path", type=click.Path(dir_okay=False), required=True)
@click.pass_obj
def trust_add(env: Environment, pub: str, issuer: str, name: str, credit_code: str | None, role: str,
              not_before: str | None, not_after: str | None, number_prefixes: tuple[str, ...], contact_phone: str,
              contact_address: str, contact_url: str, trust_path: str) -> None:
    if credit_code:
        validate_credit_code(credit_code)
    key = PublicKey.from_pem(Path(pub).read_bytes())
    path = Path(trust_path)
    draft = _read_draft(path)
    known = draft.issuer(issuer)
    contact = IssuerContact.from_json({"phone": contact_phone, "address": contact_address, "url": contact_url}) \
        if contact_phone or contact_address or contact_url else (known.contact if known else None)
    prefixes = tuple(number_prefixes) or (known.number_prefixes if known else None)
    draft = draft.with_issuer(TrustedIssuer(issuer, name, credit_code, prefixes, contact)).with_key(TrustedKey(
        kid=key.kid, public_key=key, issuer=issuer, role=KeyRole(role),
        not_before=parse_time(not_before, env) if not_before else None,
        not_after=parse_time(not_after, env) if not_after else None,
    ))
    _save_draft(path, draft)
    env.out(f"added {role} key {key.kid} ({key.alg}) for {issuer} {name}; sign the list to publish it")


@trust.command("set-state", help="Retire a key or mark it compromised, from a moment (--at, default now): it "
               "signs nothing from then on, and what it signed before stays valid (retired) or not (compromised).")
@click.argument("kid")
@click.argument("state", type=click.Choice([KeyState.RETIRED.value, KeyState.COMPROMISED.value, KeyState.ACTIVE.value]))
@click.option("--at", help="retired or compromised from this time (ISO 8601)")
@click.option("--trust", "trust_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.pass_obj
def trust_set_state(env: Environment, kid: str, state: str, at: str | None, trust_path: str) -> None:
    path = Path(trust_path)
    draft = _read_draft(path)
    matching = [k for k in draft.keys if k.kid == kid]
    if not matching:
        raise click.UsageError(f"no key {kid} in {path}")
    new_state = KeyState(state)
    when = None if new_state is KeyState.ACTIVE else parse_time(at, env)
    for key in matching:
        if new_state is KeyState.RETIRED:  # a compromise stays recorded; retirement only adds its moment
            key = replace(key, state=KeyState.COMPROMISED if key.state is KeyState.COMPROMISED else new_state,
                          retired_at=when)
        else:
            key = replace(key, state=new_state, compromised_at=when, retired_at=None if when is None else key.retired_at)
        draft = draft.with_key(key)
    _save_draft(path, draft)
    env.out(f"key {kid} is {state}" + (f" from {when.isoformat()}" if when else "") + "; sign the list to publish it")


@trust.command("sign", help="Sign the list with the root key; --cross-sign with the old root when rotating.")
@click.option("--trust", "trust_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--root-key", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--cross-sign", type=click.Path(exists=True, dir_okay=False),
              help="the previous root's private key, so verifiers pinned to it accept the new root")
@click.option("--passphrase-env", help=PASSPHRASE_HELP)
@click.pass_obj
def trust_sign(env: Environment, trust_path: str, root_key: str, cross_sign: str | None,
               passphrase_env: str | None) -> None:
    path = Path(trust_path)
    root = read_private(root_key, env, passphrase_env)
    signers = [root] + ([read_private(cross_sign, env, passphrase_env)] if cross_sign else [])
    draft = replace(_read_draft(path), root=root.public_key(), issued_at=env.now().replace(microsecond=0))
    path.write_bytes(SignedTrustList.sign(draft, *signers).dumps())
    env.out(f"signed trust list serial {draft.serial} with root {root.public_key().kid}"
            + (f", cross-signed by {signers[1].public_key().kid}" if cross_sign else ""))


@trust.command("list", help="Show the issuers and keys of a trust list.")
@click.option("--trust", "trust_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--root-pub", type=click.Path(exists=True, dir_okay=False), help="also check the signature")
@click.pass_obj
def trust_list(env: Environment, trust_path: str, root_pub: str | None) -> None:
    doc = SignedTrustList.loads(Path(trust_path).read_bytes())
    listed = doc.verify(PublicKey.from_pem(Path(root_pub).read_bytes())) if root_pub else doc.unverified()
    check = "signature checked" if root_pub else f"{len(doc.signatures)} signature(s), not checked"
    env.out(f"trust list serial {listed.serial}, root {listed.root.kid if listed.root else '(unsigned)'}, {check}")
    for issuer in sorted(listed.issuers, key=lambda i: i.code):
        space = "any number" if issuer.number_prefixes is None else "numbers " + " ".join(issuer.number_prefixes)
        env.out(f"issuer {issuer.code} {issuer.name} {issuer.credit_code or ''}".rstrip() + f" ({space})")
    for key in sorted(listed.keys, key=lambda k: (k.issuer, k.kid)):
        window = f"{_day(key.not_before)}..{_day(key.not_after)}"
        extra = f" from {key.compromised_at.isoformat()}" if key.compromised_at else ""
        extra += f" retired from {key.retired_at.isoformat()}" if key.retired_at else ""
        env.out(f"  key {key.kid} {key.alg:<5} {key.role:<6} {key.issuer} {window} {key.state}{extra}")


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else ""


def _read_record(path: str) -> Record:
    try:
        return Record.from_json(json.loads(Path(path).read_text("utf-8")))
    except ValueError as exc:
        if isinstance(exc, RecordError):
            raise
        raise click.BadParameter(f"{path} is not JSON: {exc}") from None


@cli.command(help="Sign a certificate record and print its QR text (last line).")
@click.argument("record_path", type=click.Path(exists=True, dir_okay=False), metavar="RECORD.json")
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--base-url", required=True, help="the service's public URL, e.g. https://verify.example.cn")
@click.option("--png", type=click.Path(dir_okay=False))
@click.option("--svg", type=click.Path(dir_okay=False))
@click.option("--at", help="signing time (default now)")
@click.option("--passphrase-env", help=PASSPHRASE_HELP)
@click.pass_obj
def issue(env: Environment, record_path: str, key_path: str, base_url: str, png: str | None, svg: str | None,
          at: str | None, passphrase_env: str | None) -> None:
    record = _read_record(record_path)
    if record.paper:
        raise click.UsageError("a paper certificate has no QR code")
    key = read_private(key_path, env, passphrase_env)
    try:
        text = issue_payload(record, key, base_url, parse_time(at, env))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--base-url") from None
    qr = segno.make(text, error="m", micro=False)
    if png:
        qr.save(png, kind="png", scale=8, border=4)
    if svg:
        qr.save(svg, kind="svg", scale=8, border=4)
    env.out(f"QR version {qr.version}-{qr.error}, {len(text)} characters, {key.alg} key {key.public_key().kid}")
    env.out(text)


@cli.command(help="Check a QR text's signature against a trust list; exit 0 only when valid.")
@click.argument("qr_text")
@click.option("--trust", "trust_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--root-pub", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--at", help="verify as of this time (default now)")
@click.pass_obj
def verify(env: Environment, qr_text: str, trust_path: str, root_pub: str, as_json: bool, at: str | None) -> ExitStatus:
    trust_list_ = load_trust(trust_path, root_pub)
    result = verify_at(qr_text, trust_list_, parse_time(at, env))
    if as_json:
        out: dict[str, Any] = {**result.signature().to_json(), "reason": result.reason,
                               "claims": result.claims.certificate(result.issuer) if result.claims else None}
        env.out(json.dumps(out, ensure_ascii=False))
    else:
        zh, en = SIGNATURE_LABELS[result.result]
        mark = "✔" if result.valid else "✘"
        env.out(f"{mark} {zh} {en} ({result.result})" + (f": {result.reason}" if result.reason else ""))
        if result.claims:
            c = result.claims
            env.out(f"  证书 {c.registration_no} 第{c.version}版 · {c.category.zh} {c.model} · 备案 {c.record_no}"
                    f" · 出厂 {c.factory_serial}")
            env.out(f"  工程 {c.project} {c.position} · 使用单位 {c.user}")
        if result.issuer:
            env.out(f"  发证机关 {result.issuer.name} ({result.issuer.code}) · kid {result.kid} · {result.alg}")
    return ExitStatus.OK if result.valid else ExitStatus.NOT_OK


# --- seal: demo and test electronic seals (keys/documents) ------------------------------------------------

@cli.group(help="Seal roots, seal keys and SES seals on OFD files, for demo and test documents only: real "
           "seals come from the authority's certified seal system, and these carry no legal force.")
def seal() -> None:
    pass


def _write_identity(env: Environment, identity: SealIdentity, out: Path, stem: str, passphrase: bytes | None) -> None:
    key_path, cert_path = out / f"{stem}.key.pem", out / f"{stem}.cert.pem"
    if key_path.exists():
        raise click.UsageError(f"{key_path} exists; refusing to overwrite a private key")
    identity.key.write(key_path, passphrase)
    cert_path.write_bytes(identity.certificate_pem())
    env.out(f"private key: {key_path} (mode 0600)")
    env.out(f"certificate: {cert_path}")
    env.out(identity.certificate.subject)


def _read_identity(env: Environment, key: str, cert: str, passphrase_env: str | None) -> SealIdentity:
    return load_identity(Path(key).read_bytes(), Path(cert).read_bytes(), _passphrase(env, passphrase_env))


@seal.command("root", help="Make an SM2 seal root: a self-signed certificate verifiers trust (CRANE_SEAL_ROOTS).")
@click.option("--name", required=True, help="the root's name, e.g. 演示印章根 Demo Seal Root")
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--passphrase-env", help=PASSPHRASE_HELP)
@click.pass_obj
def seal_root(env: Environment, name: str, out: str, passphrase_env: str | None) -> None:
    _write_identity(env, make_seal_root(name, env.now()), Path(out), "seal-root", _passphrase(env, passphrase_env))


@seal.command("key", help="Make an SM2 seal key and its certificate, issued by a seal root.")
@click.option("--name", required=True, help="the sealing authority, e.g. 沈阳市城乡建设局")
@click.option("--root-key", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--root-cert", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--days", type=click.IntRange(1, 3650), default=1825, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--passphrase-env", help=PASSPHRASE_HELP)
@click.pass_obj
def seal_key(env: Environment, name: str, root_key: str, root_cert: str, days: int, out: str,
             passphrase_env: str | None) -> None:
    root = _read_identity(env, root_key, root_cert, passphrase_env)
    identity = make_seal_certificate(root, name, env.now(), days)
    _write_identity(env, identity, Path(out), identity.key.public_key().kid, _passphrase(env, passphrase_env))


def _seal_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed([
        click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False), required=True),
        click.option("--cert", "cert_path", type=click.Path(exists=True, dir_okay=False), required=True),
        click.option("--maker-key", type=click.Path(exists=True, dir_okay=False),
                     help="the seal maker's key (default: the seal key: a self-made seal)"),
        click.option("--maker-cert", type=click.Path(exists=True, dir_okay=False)),
        click.option("--out", type=click.Path(dir_okay=False), required=True),
        click.option("--passphrase-env", help=PASSPHRASE_HELP),
    ]):
        command = option(command)
    return command


def _signer_and_maker(env: Environment, key_path: str, cert_path: str, maker_key: str | None,
                      maker_cert: str | None, passphrase_env: str | None) -> tuple[SealIdentity, SealIdentity | None]:
    if bool(maker_key) != bool(maker_cert):
        raise click.UsageError("give both --maker-key and --maker-cert, or neither")
    signer = _read_identity(env, key_path, cert_path, passphrase_env)
    if maker_key and maker_cert:
        return signer, _read_identity(env, maker_key, maker_cert, passphrase_env)
    return signer, None


@seal.command("sign", help="Seal an OFD file (SES v4 by default) over every file it holds.")
@click.argument("ofd", type=click.Path(exists=True, dir_okay=False), metavar="FILE.ofd")
@_seal_options
@click.option("--name", help="the seal's name (default: the certificate's CN)")
@click.option("--picture", type=click.Path(exists=True, dir_okay=False), help="the seal image, PNG")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--ses-version", type=click.Choice(["4", "1"]), default="4", show_default=True)
@click.pass_obj
def seal_sign(env: Environment, ofd: str, key_path: str, cert_path: str, maker_key: str | None,
              maker_cert: str | None, out: str, passphrase_env: str | None, name: str | None, picture: str | None,
              page: int, ses_version: str) -> None:
    signer, maker = _signer_and_maker(env, key_path, cert_path, maker_key, maker_cert, passphrase_env)
    seal_name = name or signer.certificate.subject_cn
    spec = SealSpec(seal_name, Path(picture).read_bytes() if picture else seal_picture(seal_name), page=page)
    Path(out).write_bytes(seal_ofd(Path(ofd).read_bytes(), signer, spec, env.now(), maker, int(ses_version)))
    env.out(f"sealed {out} (SES v{ses_version}) as {signer.certificate.subject}")


@seal.command("certificate", help="Write a certificate record as a sealed demo OFD (A4, QR, 演示 DEMO watermark).")
@click.argument("record_path", type=click.Path(exists=True, dir_okay=False), metavar="RECORD.json")
@click.option("--qr", "qr_text", required=True, help="the certificate's QR text (from crane-keys issue)")
@_seal_options
@click.pass_obj
def seal_certificate(env: Environment, record_path: str, qr_text: str, key_path: str, cert_path: str,
                     maker_key: str | None, maker_cert: str | None, out: str, passphrase_env: str | None) -> None:
    record = _read_record(record_path)
    signer, maker = _signer_and_maker(env, key_path, cert_path, maker_key, maker_cert, passphrase_env)
    Path(out).write_bytes(make_demo_document(record, qr_text, signer, env.now(), maker))
    env.out(f"demo certificate {out}, sealed as {signer.certificate.subject}; it carries no legal force")


def main(args: list[str], env: Environment | None = None) -> ExitStatus:
    return run(cli, "crane-keys", args, env or Environment())


def entry() -> None:
    sys.exit(main(sys.argv[1:]))
