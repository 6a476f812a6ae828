# -*- test-case-name: tests.explain.test_catalogue -*-
"""The explanation catalogue: what OpenSSL codes, TLS alerts and FTP replies mean.

Pure data: every certificate verification code of the linked OpenSSL (4.0.3), every
TLS alert it names, the handshake reasons admins meet, connection failures and the
FTP reply codes of RFC 959, 2228 and 4217, each with plain words, likely causes,
who has to act and the fix.

Sides: ``client`` is the side that opens the connection (the probe, or a partner's
client at a listener), ``server`` the side that accepts it.  Verify-code entries are
written for a client judging a server's certificate: ``server`` there means the
party that presents the certificate.  Handshake reasons and alerts are explained
from the point of view of the side that saw them (``seen_by``).
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

import attrs

from diagnostics.model.result import Severity, Side

# The OpenSSL whose texts this catalogue records (pyOpenSSL's bundled library).
_OPENSSL = "OpenSSL 4.0.3"

_C, _S, _E = Side.CLIENT, Side.SERVER, Side.EITHER
_ERROR, _WARNING, _INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@attrs.frozen
class Explanation:
    """What one code, alert, reason or reply means and what to do about it."""

    kind: str
    key: str
    title: str
    reason: str
    summary: str
    causes: tuple[str, ...]
    remedy: str
    side: Side
    severity: Severity
    finding_id: str


@attrs.frozen
class VerifyCode(Explanation):
    """An ``X509_V_ERR_*`` certificate verification code."""

    code: int
    macro: str


class _View(NamedTuple):
    """One side's reading of a handshake error or alert."""

    finding_id: str
    side: Side
    summary: str
    causes: tuple[str, ...]
    remedy: str


# -- certificate verification codes ----------------------------------------------------

# Texts shared by families of rarely seen codes.
_STRICT = (
    "This is only checked in strict mode (the X.509 strict flag; Python 3.13 and later "
    "turn it on in default contexts), so the same chain may pass elsewhere.",
    "Home-made CAs built with minimal extension sets trip these checks.",
)
_SUITE_B = ("Only checked when the verifier runs in NSA Suite B mode, which almost nobody does.",)
_SUITE_B_FIX = "Turn Suite B mode off, or reissue the chain with P-256/P-384 ECDSA and SHA-256/384."
_PROXY = ("Proxy certificates (RFC 3820) are used by grid-computing software only.",)
_CONSTRAINTS = (
    "A CA restricted by name constraints (a constrained company sub-CA) issued a certificate "
    "for a name outside its allowed space, or encodes the constraint in a form OpenSSL "
    "cannot check.",
)
_CONSTRAINTS_FIX = (
    "Issue the certificate from a CA whose name constraints cover the name, or fix the "
    "constraints in the CA certificate."
)
_REISSUE_CA_TOOL = "Have the certificate reissued with a standard CA tool."
_CRL_FROM_CA = "Get a correct CRL from the CA that issued the certificate."

# code, macro without X509_V_ERR_, side, finding id ("" = verify_<macro>), OpenSSL's text,
# summary, causes, remedy
_VERIFY_ROWS: tuple[tuple[int, str, Side, str, str, str, tuple[str, ...], str], ...] = (
    (
        0,
        "OK",
        _E,
        "verify_ok",
        "ok",
        "The certificate passed verification.",
        (),
        "Nothing to do.",
    ),
    (
        1,
        "UNSPECIFIED",
        _C,
        "",
        "unspecified certificate verification error",
        "Verification failed without a specific reason.",
        (
            "The verifying program's own check (a pinning or policy callback) rejected a "
            "certificate that OpenSSL itself accepted; the peer then receives alert 80 "
            "(internal_error).",
            "A failure inside OpenSSL that set no more specific code.",
        ),
        "Look at the other verify errors and at the verifying program's log for the real reason.",
    ),
    (
        2,
        "UNABLE_TO_GET_ISSUER_CERT",
        _E,
        "unknown_issuer",
        "unable to get issuer certificate",
        "The issuer of a certificate above the server's own could not be found, so the chain "
        "does not reach a trusted root.",
        (
            "The client's trust store holds an intermediate CA but not the root above it.",
            "The server sends an old or cross-signed intermediate whose issuer the client "
            "does not have.",
        ),
        "Add the missing root to the client's trust store, or have the server send the "
        "intermediate that chains to a current root.",
    ),
    (
        3,
        "UNABLE_TO_GET_CRL",
        _C,
        "crl_unavailable",
        "unable to get certificate CRL",
        "Revocation checking is on, but no CRL of the certificate's issuer is loaded.",
        (
            "CRL checking was switched on without loading the CRL of every CA in the chain.",
            "Downloading the CRL from its distribution point failed.",
        ),
        "Load the issuing CA's current CRL (or fetch it from the distribution point named in "
        "the certificate), or switch CRL checking off.",
    ),
    (
        4,
        "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
        _S,
        "",
        "unable to decrypt certificate's signature",
        "The signature on a certificate could not be decoded with the issuer's public key.",
        (
            "The certificate file is damaged or truncated.",
            "The issuer's key type does not fit the signature.",
        ),
        "Export the certificate again from the CA and install it again.",
    ),
    (
        5,
        "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
        _C,
        "",
        "unable to decrypt CRL's signature",
        "The signature on a CRL could not be decoded with its issuer's public key.",
        ("The CRL file is damaged, or something else (an HTML error page) was saved as CRL.",),
        "Download the CRL again from the CA.",
    ),
    (
        6,
        "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
        _E,
        "",
        "unable to decode issuer public key",
        "The issuer's public key could not be read.",
        (
            "The issuer certificate is damaged.",
            "The key uses an algorithm this OpenSSL does not provide (GOST, or an algorithm "
            "left out of a FIPS-only setup).",
        ),
        "Use a CA with a mainstream key type (RSA, ECDSA, Ed25519), or load the OpenSSL "
        "provider that supports the algorithm.",
    ),
    (
        7,
        "CERT_SIGNATURE_FAILURE",
        _S,
        "",
        "certificate signature failure",
        "A certificate's signature does not match its issuer's key.",
        (
            "The server sends an intermediate with the right name but another key (an old or "
            "re-keyed intermediate).",
            "The certificate was changed after it was signed.",
        ),
        "Serve the intermediate whose Subject Key Identifier matches the certificate's "
        "Authority Key Identifier, normally the current chain file from the CA.",
    ),
    (
        8,
        "CRL_SIGNATURE_FAILURE",
        _C,
        "crl_signature_failure",
        "CRL signature failure",
        "A CRL's signature does not match its issuer's key.",
        ("The CRL was published by another CA, or by the same CA with a newer key.",),
        "Use the CRL published by the CA that issued the certificate.",
    ),
    (
        9,
        "CERT_NOT_YET_VALID",
        _C,
        "not_yet_valid",
        "certificate is not yet valid or the system clock is incorrect",
        "The certificate's validity period has not started yet.",
        (
            "The verifying machine's clock is behind (no NTP, a fresh VM or appliance).",
            "The certificate was issued moments ago or with a start date in the future.",
        ),
        "Correct the clock on the verifying machine; if the clock is right, wait for the "
        "start date or have the certificate reissued with a correct one.",
    ),
    (
        10,
        "CERT_HAS_EXPIRED",
        _S,
        "expired",
        "certificate has expired",
        "A certificate in the chain is past its expiry date.",
        (
            "The server certificate was not renewed in time.",
            "The server still sends an expired intermediate or cross-signed certificate.",
            "The verifying machine's clock is ahead.",
        ),
        "Renew the certificate and install it with its current chain; if the dates look "
        "right, check the verifying machine's clock.",
    ),
    (
        11,
        "CRL_NOT_YET_VALID",
        _C,
        "crl_not_yet_valid",
        "CRL is not yet valid",
        "A CRL's issue date lies in the future.",
        (
            "The verifying machine's clock is behind.",
            "The CA published the CRL with a wrong date.",
        ),
        "Correct the clock, or get a correctly dated CRL from the CA.",
    ),
    (
        12,
        "CRL_HAS_EXPIRED",
        _C,
        "crl_expired",
        "CRL has expired",
        "The loaded CRL is past its next-update date: it is stale.",
        (
            "A cached CRL file is not refreshed.",
            "The CA stopped publishing fresh CRLs.",
        ),
        "Download the current CRL and refresh it automatically before its next-update date.",
    ),
    (
        13,
        "ERROR_IN_CERT_NOT_BEFORE_FIELD",
        _S,
        "",
        "format error in certificate's notBefore field",
        "The certificate's start date is badly encoded.",
        ("The CA software wrote an invalid date.",),
        _REISSUE_CA_TOOL,
    ),
    (
        14,
        "ERROR_IN_CERT_NOT_AFTER_FIELD",
        _S,
        "",
        "format error in certificate's notAfter field",
        "The certificate's expiry date is badly encoded.",
        ("The CA software wrote an invalid date.",),
        _REISSUE_CA_TOOL,
    ),
    (
        15,
        "ERROR_IN_CRL_LAST_UPDATE_FIELD",
        _C,
        "",
        "format error in CRL's lastUpdate field",
        "The CRL's issue date is badly encoded.",
        ("The CA software wrote an invalid date into the CRL.",),
        _CRL_FROM_CA,
    ),
    (
        16,
        "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
        _C,
        "",
        "format error in CRL's nextUpdate field",
        "The CRL's next-update date is badly encoded.",
        ("The CA software wrote an invalid date into the CRL.",),
        _CRL_FROM_CA,
    ),
    (
        17,
        "OUT_OF_MEM",
        _C,
        "",
        "out of memory",
        "OpenSSL ran out of memory while verifying.",
        ("The verifying machine or process is short of memory.",),
        "Check the resources of the verifying machine; report a bug if it repeats.",
    ),
    (
        18,
        "DEPTH_ZERO_SELF_SIGNED_CERT",
        _S,
        "self_signed",
        "self-signed certificate",
        "The server presents a self-signed certificate that the client does not trust.",
        (
            "An appliance default or the 'snakeoil' certificate of an FTP or web server "
            "package is still installed.",
            "A test setup went into production.",
        ),
        "Install a certificate issued by a CA the clients trust; if the self-signed "
        "certificate is intended, each client must trust exactly that certificate.",
    ),
    (
        19,
        "SELF_SIGNED_CERT_IN_CHAIN",
        _C,
        "untrusted_root",
        "self-signed certificate in certificate chain",
        "The chain ends in a self-signed root that the client does not trust.",
        (
            "The server uses a private or company CA.",
            "A TLS-inspecting proxy or firewall re-signs the traffic with its own root.",
            "The client's CA bundle is outdated.",
        ),
        "If the root is legitimate, import it into the client's trust store; otherwise use "
        "a certificate from a publicly trusted CA.",
    ),
    (
        20,
        "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        _E,
        "unknown_issuer",
        "unable to get local issuer certificate",
        "No trusted issuer was found for the top certificate of the chain the server sent.",
        (
            "At depth 0: the server sends only its own certificate and leaves out the "
            "intermediate.",
            "At depth 1 or more: the client's trust store lacks the root (private CA, "
            "outdated CA bundle, wrong CA file).",
        ),
        "Server: send the full chain (certificate plus intermediates). Client: add the "
        "issuing root to the trust store or update the CA bundle.",
    ),
    (
        21,
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        _S,
        "unknown_issuer",
        "unable to verify the first certificate",
        "The server's certificate could not be verified because its issuer is unknown.",
        (
            "The intermediate certificate is not configured on the server (fullchain.pem, "
            "TLSCertificateChainFile, or a combined PEM file).",
            "The certificate comes from a private CA the client does not have.",
        ),
        "Configure the server to send its intermediate certificates along with its own.",
    ),
    (
        22,
        "CERT_CHAIN_TOO_LONG",
        _E,
        "",
        "certificate chain too long",
        "The chain is longer than the verifier allows.",
        (
            "The verify depth is set too low on the verifying side.",
            "Cross-certificates form a very long path.",
        ),
        "Raise the verify depth on the verifying side, or serve a shorter chain.",
    ),
    (
        23,
        "CERT_REVOKED",
        _S,
        "revoked",
        "certificate revoked",
        "The certificate was revoked by its CA (it is listed on the CRL).",
        (
            "The key was compromised, or the certificate was replaced and revoked, but the "
            "server still uses it.",
        ),
        "Install a new, unrevoked certificate on the server.",
    ),
    (
        24,
        "NO_ISSUER_PUBLIC_KEY",
        _S,
        "",
        "issuer certificate doesn't have a public key",
        "The issuer certificate carries no usable public key.",
        (
            "A damaged or unusual CA certificate.",
            "Logs of OpenSSL 1.1.1 and older use 24 for 'invalid CA certificate' (now 79).",
        ),
        "Fix or replace the CA certificate.",
    ),
    (
        25,
        "PATH_LENGTH_EXCEEDED",
        _S,
        "",
        "path length constraint exceeded",
        "A CA's path length limit is exceeded: there are more CAs below it than it allows.",
        ("An intermediate limited to path length 0 issued another CA.",),
        "Rebuild the private CA hierarchy so that the path length limits fit, or issue the "
        "certificate directly from the limited CA.",
    ),
    (
        26,
        "INVALID_PURPOSE",
        _S,
        "wrong_eku",
        "unsuitable certificate purpose",
        "The certificate is not allowed for this use.",
        (
            "The server certificate lacks the serverAuth extended key usage (a client-only "
            "certificate was installed).",
            "A client certificate lacks clientAuth.",
            "An intermediate CA restricts the allowed usages.",
        ),
        "Reissue the certificate with the right extended key usage: serverAuth for servers, "
        "clientAuth for client certificates.",
    ),
    (
        27,
        "CERT_UNTRUSTED",
        _C,
        "",
        "certificate not trusted",
        "The root is in the trust store but marked as not trusted for this purpose.",
        ("OpenSSL trust settings on the root exclude server or client authentication.",),
        "Adjust the trust settings of that root in the verifying side's store.",
    ),
    (
        28,
        "CERT_REJECTED",
        _C,
        "",
        "certificate rejected",
        "The root is explicitly marked as rejected for this purpose in the trust store.",
        ("A reject setting was added to the root in the trust store.",),
        "Remove the reject setting if the root should be trusted.",
    ),
    (
        29,
        "SUBJECT_ISSUER_MISMATCH",
        _S,
        "",
        "subject issuer mismatch",
        "A candidate issuer was skipped because its name does not match the certificate's "
        "issuer name.",
        (
            "Usually informational while the chain is built; when verification fails as "
            "well, the server sends an intermediate that does not belong to its certificate.",
        ),
        "Check that the intermediates served belong to this certificate; the error that ends "
        "verification names the real problem.",
    ),
    (
        30,
        "AKID_SKID_MISMATCH",
        _S,
        "",
        "authority and subject key identifier mismatch",
        "A candidate issuer was skipped because its key identifier does not match the one "
        "the certificate names.",
        (
            "Usually informational while the chain is built; when verification fails as "
            "well, the server sends an old or re-keyed intermediate.",
        ),
        "Serve the intermediate whose Subject Key Identifier matches the certificate's "
        "Authority Key Identifier.",
    ),
    (
        31,
        "AKID_ISSUER_SERIAL_MISMATCH",
        _S,
        "",
        "authority and issuer serial number mismatch",
        "A candidate issuer was skipped because its issuer name and serial number do not "
        "match the ones the certificate names.",
        (
            "Usually informational while the chain is built; when verification fails as "
            "well, the server sends the wrong intermediate.",
        ),
        "Serve the intermediate the certificate was actually issued by.",
    ),
    (
        32,
        "KEYUSAGE_NO_CERTSIGN",
        _S,
        "",
        "key usage does not include certificate signing",
        "A CA certificate that signed another certificate lacks the keyCertSign key usage.",
        ("A home-made CA was created without the usual CA extensions.",),
        "Reissue the CA certificate with CA:TRUE and key usage keyCertSign (and cRLSign).",
    ),
    (
        33,
        "UNABLE_TO_GET_CRL_ISSUER",
        _C,
        "",
        "unable to get CRL issuer certificate",
        "The certificate of the CA that signed the CRL could not be found.",
        ("An indirect CRL is signed by a separate CRL issuer that is not in the store.",),
        "Add the CRL issuer's certificate to the verifying side's trust material.",
    ),
    (
        34,
        "UNHANDLED_CRITICAL_EXTENSION",
        _S,
        "",
        "unhandled critical extension",
        "The certificate has an extension marked critical that OpenSSL does not understand.",
        ("Proprietary or government PKI extensions marked critical.",),
        "Reissue the certificate without marking that extension critical.",
    ),
    (
        35,
        "KEYUSAGE_NO_CRL_SIGN",
        _S,
        "",
        "key usage does not include CRL signing",
        "The certificate that signed the CRL lacks the cRLSign key usage.",
        ("The CA signs CRLs with a certificate not meant for it.",),
        "The CA must sign its CRLs with a certificate that has the cRLSign key usage.",
    ),
    (
        36,
        "UNHANDLED_CRITICAL_CRL_EXTENSION",
        _S,
        "crl_unhandled_critical_extension",
        "unhandled critical CRL extension",
        "The CRL has an extension marked critical that OpenSSL does not understand.",
        ("The CA writes proprietary critical extensions into its CRLs.",),
        "Have the CA publish CRLs without unknown critical extensions.",
    ),
    (
        37,
        "INVALID_NON_CA",
        _S,
        "",
        "invalid non-CA certificate (has CA markings)",
        "An end-entity certificate carries markings reserved for CAs.",
        ("The certificate has keyCertSign but is not a CA (no CA:TRUE).",),
        _REISSUE_CA_TOOL,
    ),
    (
        38,
        "PROXY_PATH_LENGTH_EXCEEDED",
        _E,
        "",
        "proxy path length constraint exceeded",
        "A chain of proxy certificates is longer than allowed.",
        _PROXY,
        "Use a shorter chain of proxy certificates, or ordinary certificates.",
    ),
    (
        39,
        "KEYUSAGE_NO_DIGITAL_SIGNATURE",
        _S,
        "",
        "key usage does not include digital signature",
        "The certificate's key usage lacks digitalSignature, which this use requires.",
        ("The certificate was issued with a key usage list for another purpose.",),
        "Reissue the certificate with the digitalSignature key usage.",
    ),
    (
        40,
        "PROXY_CERTIFICATES_NOT_ALLOWED",
        _E,
        "",
        "proxy certificates not allowed, please set the appropriate flag",
        "A proxy certificate was presented, but proxy certificates are not enabled.",
        _PROXY,
        "Present an ordinary certificate.",
    ),
    (
        41,
        "INVALID_EXTENSION",
        _S,
        "",
        "invalid or inconsistent certificate extension",
        "A certificate extension is malformed or contradicts another one.",
        ("Bad basic constraints or key usage encoding, or a duplicated extension.",),
        _REISSUE_CA_TOOL,
    ),
    (
        42,
        "INVALID_POLICY_EXTENSION",
        _S,
        "",
        "invalid or inconsistent certificate policy extension",
        "The certificate policies extension is malformed or inconsistent.",
        ("The CA wrote a broken policy extension.",),
        _REISSUE_CA_TOOL,
    ),
    (
        43,
        "NO_EXPLICIT_POLICY",
        _E,
        "",
        "no explicit policy",
        "An explicit certificate policy is required, but the chain carries no valid one.",
        ("The verifier or a CA's policy constraints demand a policy the chain lacks.",),
        "Issue from a CA with the required policy, or relax the verifier's policy settings.",
    ),
    (
        44,
        "DIFFERENT_CRL_SCOPE",
        _E,
        "",
        "different CRL scope",
        "The CRL found does not cover this certificate.",
        ("The CA uses partitioned or delta CRLs and the matching one is not loaded.",),
        "Load the CRL whose scope covers the certificate (see its CRL distribution point).",
    ),
    (
        45,
        "UNSUPPORTED_EXTENSION_FEATURE",
        _E,
        "",
        "unsupported extension feature",
        "A certificate or CRL uses a feature OpenSSL does not implement.",
        ("Indirect CRLs or similar rarely used features.",),
        "Use plain CRLs from the issuing CA, or a CA without such features.",
    ),
    (
        46,
        "UNNESTED_RESOURCE",
        _E,
        "",
        "RFC 3779 resource not subset of parent's resources",
        "An IP address or AS number resource is not contained in the issuer's resources.",
        ("Only relevant for RPKI (routing) certificates.",),
        "Fix the resources in the RPKI certificate.",
    ),
    (
        47,
        "PERMITTED_VIOLATION",
        _S,
        "",
        "permitted subtree violation",
        "A name in the certificate lies outside what its CA is permitted to certify.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        48,
        "EXCLUDED_VIOLATION",
        _S,
        "",
        "excluded subtree violation",
        "A name in the certificate lies in a space its CA is forbidden to certify.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        49,
        "SUBTREE_MINMAX",
        _S,
        "",
        "name constraints minimum and maximum not supported",
        "A CA's name constraints use minimum/maximum fields that OpenSSL does not support.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        50,
        "APPLICATION_VERIFICATION",
        _C,
        "",
        "application verification failure",
        "The verifying program's own check rejected the certificate.",
        ("A pinning or policy hook of the verifying program, not one of OpenSSL's checks.",),
        "See the verifying program's log and configuration for the rule that failed.",
    ),
    (
        51,
        "UNSUPPORTED_CONSTRAINT_TYPE",
        _S,
        "",
        "unsupported name constraint type",
        "A CA's name constraint is of a type OpenSSL cannot evaluate.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        52,
        "UNSUPPORTED_CONSTRAINT_SYNTAX",
        _S,
        "",
        "unsupported or invalid name constraint syntax",
        "A CA's name constraint is written in a syntax OpenSSL cannot evaluate.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        53,
        "UNSUPPORTED_NAME_SYNTAX",
        _S,
        "",
        "unsupported or invalid name syntax",
        "A name in the certificate cannot be parsed for the name-constraint check.",
        ("An unusually encoded subject or alternative name under a constrained CA.",),
        "Reissue the certificate with plainly encoded names.",
    ),
    (
        54,
        "CRL_PATH_VALIDATION_ERROR",
        _E,
        "",
        "CRL path validation error",
        "The chain of the CRL's own signer could not be verified.",
        ("The CRL is signed by a certificate that does not chain to a trusted root.",),
        "Add the CRL signer's chain to the verifying side, or use the CA's own CRL.",
    ),
    (
        55,
        "PATH_LOOP",
        _S,
        "",
        "path loop",
        "Building the chain ran into a loop.",
        ("Cross-certificates that point at each other.",),
        "Serve a simple chain ending at one root; remove the looping cross-certificates.",
    ),
    (
        56,
        "SUITE_B_INVALID_VERSION",
        _E,
        "",
        "Suite B: certificate version invalid",
        "Suite B check: the certificate version is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        57,
        "SUITE_B_INVALID_ALGORITHM",
        _E,
        "",
        "Suite B: invalid public key algorithm",
        "Suite B check: the public key algorithm is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        58,
        "SUITE_B_INVALID_CURVE",
        _E,
        "",
        "Suite B: invalid ECC curve",
        "Suite B check: the elliptic curve is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        59,
        "SUITE_B_INVALID_SIGNATURE_ALGORITHM",
        _E,
        "",
        "Suite B: invalid signature algorithm",
        "Suite B check: the signature algorithm is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        60,
        "SUITE_B_LOS_NOT_ALLOWED",
        _E,
        "",
        "Suite B: curve not allowed for this LOS",
        "Suite B check: the curve is not allowed for the required level of security.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        61,
        "SUITE_B_CANNOT_SIGN_P_384_WITH_P_256",
        _E,
        "",
        "Suite B: cannot sign P-384 with P-256",
        "Suite B check: a P-384 certificate was signed with a P-256 key.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        62,
        "HOSTNAME_MISMATCH",
        _E,
        "hostname_mismatch",
        "hostname mismatch",
        "The certificate is not valid for the host name that was used.",
        (
            "The client connects by an alias, a short name or an address that the "
            "certificate does not list.",
            "The server sends the certificate of another virtual host (SNI missing or wrong).",
            "The certificate covers only one form of the name (example.org but not "
            "www.example.org), or a wildcard does not match (a wildcard covers one label).",
        ),
        "Connect with a name listed in the certificate's subject alternative names, or "
        "reissue the certificate with the name the clients use.",
    ),
    (
        63,
        "EMAIL_MISMATCH",
        _E,
        "",
        "email address mismatch",
        "The certificate does not contain the expected e-mail address.",
        ("An e-mail identity check (S/MIME style) against the wrong certificate.",),
        "Use the certificate issued for that address, or check the expected address.",
    ),
    (
        64,
        "IP_ADDRESS_MISMATCH",
        _E,
        "hostname_mismatch",
        "IP address mismatch",
        "The client connected by IP address, and the certificate does not list that address.",
        ("Certificates normally name DNS host names only.",),
        "Connect by a DNS name the certificate lists, or reissue it with an IP address entry.",
    ),
    (
        65,
        "DANE_NO_MATCH",
        _S,
        "",
        "no matching DANE TLSA records",
        "The chain matches none of the server's DANE TLSA records in DNS.",
        ("The certificate or key changed and the TLSA records were not updated.",),
        "Publish TLSA records for the current certificate or key (keep the old ones during "
        "a rollover).",
    ),
    (
        66,
        "EE_KEY_TOO_SMALL",
        _S,
        "weak_key",
        "EE certificate key too weak",
        "The certificate's key is too small for the verifier's security level.",
        (
            "An RSA or DSA key below 2048 bits; security level 2, the default of current "
            "systems, refuses it.",
        ),
        "Reissue the certificate with an RSA key of at least 2048 bits or an ECDSA P-256 key. "
        "Lowering the client's security level is only a stopgap.",
    ),
    (
        67,
        "CA_KEY_TOO_SMALL",
        _S,
        "weak_key",
        "CA certificate key too weak",
        "A CA certificate in the chain has a key too small for the verifier's security level.",
        ("An old private CA with a 1024-bit RSA key.",),
        "Create a new CA key of at least 2048 bits and reissue the chain. Lowering the "
        "client's security level is only a stopgap.",
    ),
    (
        68,
        "CA_MD_TOO_WEAK",
        _S,
        "weak_signature",
        "CA signature digest algorithm too weak",
        "A certificate in the chain is signed with a weak hash (SHA-1 or MD5).",
        (
            "An old certificate or CA still signing with SHA-1; the text says 'CA' because "
            "the CA made the signature. A self-signed root's own signature does not count.",
        ),
        "Reissue the certificate with a SHA-256 (or stronger) signature.",
    ),
    (
        69,
        "INVALID_CALL",
        _C,
        "",
        "invalid certificate verification context",
        "The verifying program called OpenSSL's verification wrongly.",
        ("A bug in the verifying program.",),
        "Report the bug to the maintainers of the verifying program.",
    ),
    (
        70,
        "STORE_LOOKUP",
        _C,
        "",
        "issuer certificate lookup error",
        "Looking up an issuer in the trust store failed.",
        ("A broken hashed certificate directory, an unreadable store or a wrong store URI.",),
        "Check the trust store path and permissions, and rebuild its hash links (openssl rehash).",
    ),
    (
        71,
        "NO_VALID_SCTS",
        _E,
        "",
        "Certificate Transparency required, but no valid SCTs found",
        "Certificate Transparency is enforced, but the certificate has no valid SCTs.",
        ("A certificate from a private CA, or one not logged to CT, under a strict CT policy.",),
        "Use a publicly logged certificate, or relax the verifier's CT policy for private CAs.",
    ),
    (
        72,
        "PROXY_SUBJECT_NAME_VIOLATION",
        _E,
        "",
        "proxy subject name violation",
        "A proxy certificate's subject name breaks the proxy certificate rules.",
        _PROXY,
        "Issue the proxy certificate with a subject derived from its issuer's.",
    ),
    (
        73,
        "OCSP_VERIFY_NEEDED",
        _C,
        "",
        "OCSP verification needed",
        "An OCSP check was required but not carried out.",
        ("The verifier demands OCSP but no OCSP response was fetched or stapled.",),
        "Make the OCSP responder reachable or enable stapling on the server, or relax the "
        "verifier's OCSP requirement.",
    ),
    (
        74,
        "OCSP_VERIFY_FAILED",
        _S,
        "",
        "OCSP verification failed",
        "The OCSP response did not verify, or it says the certificate is not good.",
        ("A revoked certificate, or a broken OCSP response from the CA's responder.",),
        "Check the certificate's status with the CA; replace it if it is revoked.",
    ),
    (
        75,
        "OCSP_CERT_UNKNOWN",
        _S,
        "",
        "OCSP unknown cert",
        "The CA's OCSP responder does not know the certificate.",
        ("The certificate is very new, or the responder belongs to another CA.",),
        "Check with the CA; if the certificate is fine, its responder must learn about it.",
    ),
    (
        76,
        "UNSUPPORTED_SIGNATURE_ALGORITHM",
        _E,
        "",
        "Cannot find certificate signature algorithm",
        "The certificate's signature algorithm is unknown or unavailable here.",
        ("An exotic algorithm, or one missing from the loaded OpenSSL providers.",),
        "Load the provider for it, or reissue the certificate with a common algorithm.",
    ),
    (
        77,
        "SIGNATURE_ALGORITHM_MISMATCH",
        _S,
        "",
        "subject signature algorithm and issuer public key algorithm mismatch",
        "The signature algorithm does not fit the issuer's key type.",
        ("Usually the wrong intermediate (an ECDSA signature but an RSA issuer key).",),
        "Serve the intermediate that actually issued the certificate.",
    ),
    (
        78,
        "SIGNATURE_ALGORITHM_INCONSISTENCY",
        _S,
        "",
        "cert info signature and signature algorithm mismatch",
        "The certificate names two different signature algorithms inside and outside the "
        "signed part.",
        _STRICT,
        _REISSUE_CA_TOOL,
    ),
    (
        79,
        "INVALID_CA",
        _S,
        "",
        "invalid CA certificate",
        "A certificate used as an issuer is not a valid CA.",
        (
            "The CA certificate lacks basic constraints CA:TRUE (home-made CA, version 1 "
            "certificate).",
            "An end-entity certificate is served as if it were an intermediate.",
        ),
        "Reissue the CA certificate with critical basic constraints CA:TRUE and the "
        "keyCertSign key usage.",
    ),
    (
        80,
        "PATHLEN_INVALID_FOR_NON_CA",
        _S,
        "",
        "Path length invalid for non-CA cert",
        "A certificate that is not a CA carries a path length limit.",
        _STRICT,
        "Reissue the certificate without a path length limit.",
    ),
    (
        81,
        "PATHLEN_WITHOUT_KU_KEY_CERT_SIGN",
        _S,
        "",
        "Path length given without key usage keyCertSign",
        "A certificate has a path length limit but not the keyCertSign key usage.",
        _STRICT,
        "Reissue the CA certificate with the keyCertSign key usage.",
    ),
    (
        82,
        "KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA",
        _S,
        "",
        "Key usage keyCertSign invalid for non-CA cert",
        "A certificate that is not a CA has the keyCertSign key usage.",
        _STRICT,
        "Reissue the certificate without keyCertSign.",
    ),
    (
        83,
        "ISSUER_NAME_EMPTY",
        _S,
        "",
        "Issuer name empty",
        "The certificate's issuer name is empty.",
        _STRICT,
        "Reissue the certificate from a CA with a proper name.",
    ),
    (
        84,
        "SUBJECT_NAME_EMPTY",
        _S,
        "",
        "Subject name empty",
        "The certificate's subject is empty and no critical alternative name replaces it.",
        _STRICT,
        "Reissue the certificate with a subject, or with a critical subject alternative name.",
    ),
    (
        85,
        "MISSING_AUTHORITY_KEY_IDENTIFIER",
        _S,
        "",
        "Missing Authority Key Identifier",
        "The certificate lacks the Authority Key Identifier extension.",
        _STRICT,
        "Reissue the certificate with an Authority Key Identifier.",
    ),
    (
        86,
        "MISSING_SUBJECT_KEY_IDENTIFIER",
        _S,
        "",
        "Missing Subject Key Identifier",
        "A CA certificate lacks the Subject Key Identifier extension.",
        _STRICT,
        "Reissue the CA certificate with a Subject Key Identifier.",
    ),
    (
        87,
        "EMPTY_SUBJECT_ALT_NAME",
        _S,
        "",
        "Empty Subject Alternative Name extension",
        "The certificate has a subject alternative name extension with no names in it.",
        _STRICT,
        "Reissue the certificate with its names in the subject alternative name extension.",
    ),
    (
        88,
        "EMPTY_SUBJECT_SAN_NOT_CRITICAL",
        _S,
        "",
        "Subject empty and Subject Alt Name extension not critical",
        "The subject is empty and the subject alternative name extension is not critical.",
        _STRICT,
        "Reissue the certificate with the alternative name extension marked critical.",
    ),
    (
        89,
        "CA_BCONS_NOT_CRITICAL",
        _S,
        "",
        "Basic Constraints of CA cert not marked critical",
        "A CA certificate's basic constraints extension is not marked critical.",
        _STRICT,
        "Reissue the CA certificate with critical basic constraints.",
    ),
    (
        90,
        "AUTHORITY_KEY_IDENTIFIER_CRITICAL",
        _S,
        "",
        "Authority Key Identifier marked critical",
        "The Authority Key Identifier extension is marked critical, which is not allowed.",
        _STRICT,
        "Reissue the certificate with a non-critical Authority Key Identifier.",
    ),
    (
        91,
        "SUBJECT_KEY_IDENTIFIER_CRITICAL",
        _S,
        "",
        "Subject Key Identifier marked critical",
        "The Subject Key Identifier extension is marked critical, which is not allowed.",
        _STRICT,
        "Reissue the certificate with a non-critical Subject Key Identifier.",
    ),
    (
        92,
        "CA_CERT_MISSING_KEY_USAGE",
        _S,
        "",
        "CA cert does not include key usage extension",
        "A CA certificate has no key usage extension.",
        _STRICT,
        "Reissue the CA certificate with key usage keyCertSign and cRLSign.",
    ),
    (
        93,
        "EXTENSIONS_REQUIRE_VERSION_3",
        _S,
        "",
        "Using cert extension requires at least X509v3",
        "A version 1 or 2 certificate carries extensions, which needs version 3.",
        _STRICT,
        "Reissue the certificate as version 3.",
    ),
    (
        94,
        "EC_KEY_EXPLICIT_PARAMS",
        _S,
        "",
        "Certificate public key has explicit ECC parameters",
        "The certificate's EC key spells out its curve parameters instead of naming the curve.",
        _STRICT,
        "Reissue the certificate with a named curve (P-256, P-384).",
    ),
    (
        95,
        "RPK_UNTRUSTED",
        _C,
        "",
        "Raw public key untrusted, no trusted keys configured",
        "The peer presented a bare public key instead of a certificate, and no trusted keys "
        "are configured.",
        ("The peer uses raw public keys (RFC 7250); the verifier expects certificates.",),
        "Configure the peer to send a certificate, or configure the expected public key.",
    ),
    (
        96,
        "OCSP_RESP_INVALID",
        _S,
        "",
        "OCSP response(s) invalid",
        "The OCSP response is malformed or does not fit the certificate.",
        ("The server staples a broken or unrelated OCSP response.",),
        "Fix OCSP stapling on the server or switch it off.",
    ),
    (
        97,
        "OCSP_SIGNATURE_FAILURE",
        _S,
        "",
        "OCSP response signature verification failure",
        "The OCSP response's signature does not verify.",
        ("The response was signed by a responder certificate the verifier cannot check.",),
        "Fix the responder's signing certificate with the CA, or stop stapling.",
    ),
    (
        98,
        "OCSP_NOT_YET_VALID",
        _E,
        "",
        "OCSP response not yet valid (contains a date in the future)",
        "The OCSP response is dated in the future.",
        (
            "The verifying machine's clock is behind.",
            "The responder's clock is ahead.",
        ),
        "Correct the clocks (NTP) on the verifying machine or the responder.",
    ),
    (
        99,
        "OCSP_HAS_EXPIRED",
        _S,
        "",
        "OCSP response has expired",
        "The OCSP response is past its next-update time.",
        ("The server staples a stale response it no longer refreshes.",),
        "Make the server refresh its stapled OCSP response (it must reach the responder).",
    ),
    (
        100,
        "OCSP_NO_RESPONSE",
        _S,
        "",
        "no OCSP response available for certificate",
        "No OCSP response is available for the certificate.",
        ("The server staples nothing although the verifier requires a response.",),
        "Enable OCSP stapling on the server, or relax the verifier's OCSP requirement.",
    ),
    (
        102,
        "EMPTY_AUTHORITY_KEY_IDENTIFIER",
        _S,
        "",
        "Empty Authority Key Identifier",
        "The certificate's Authority Key Identifier extension is empty.",
        ("The CA software wrote the extension without a key identifier.",),
        "Reissue the certificate with a complete Authority Key Identifier.",
    ),
    (
        103,
        "AKID_ISSUER_SERIAL_NOT_PAIRED",
        _S,
        "",
        "Authority Key Identifier issuer and serial number must be paired",
        "The Authority Key Identifier has the issuer name or the serial number, not both.",
        ("The CA software wrote half of the issuer-and-serial pair.",),
        "Reissue the certificate with both issuer and serial, or with the key identifier only.",
    ),
)

# Codes that report no failure on their own.
_VERIFY_SEVERITY = {0: _INFO, 29: _WARNING, 30: _WARNING, 31: _WARNING}


def _verify_macro(code: int, suffix: str) -> str:
    return "X509_V_OK" if code == 0 else f"X509_V_ERR_{suffix}"


def _verify_entries() -> Iterator[VerifyCode]:
    for code, suffix, side, finding_id, reason, summary, causes, remedy in _VERIFY_ROWS:
        macro = _verify_macro(code, suffix)
        yield VerifyCode(
            kind="verify",
            key=str(code),
            title=f"{macro} ({code})",
            reason=reason,
            summary=summary,
            causes=causes,
            remedy=remedy,
            side=side,
            severity=_VERIFY_SEVERITY.get(code, _ERROR),
            finding_id=finding_id or f"verify_{suffix.lower()}",
            code=code,
            macro=macro,
        )


VERIFY_CODES: Mapping[int, VerifyCode] = types.MappingProxyType(
    {entry.code: entry for entry in _verify_entries()}
)

_UNKNOWN_VERIFY_REASON = "unknown certificate verification error"
_UNKNOWN_VERIFY_ID = "verify_unknown"

# Macro names without their prefix, for explain().
_MACROS = {
    entry.macro.removeprefix("X509_V_ERR_").removeprefix("X509_V_"): entry.code
    for entry in VERIFY_CODES.values()
}

# Verify texts to code, with the wording of older OpenSSL versions that logs still carry.
_VERIFY_TEXTS = {
    "certificate is not yet valid": 9,
    "self signed certificate": 18,
    "self signed certificate in certificate chain": 19,
} | {entry.reason.lower(): entry.code for entry in VERIFY_CODES.values()}


def verify_code(code: int) -> VerifyCode:
    """The catalogue entry for a verify code; a generic entry when the code is unknown."""
    entry = VERIFY_CODES.get(code)
    if entry is not None:
        return entry
    macro = verify_name(code)
    return VerifyCode(
        kind="verify",
        key=str(code),
        title=f"{macro} ({code})",
        reason=_UNKNOWN_VERIFY_REASON,
        summary=f"{_OPENSSL} has no certificate verification code {code}.",
        causes=(
            "The number comes from another OpenSSL version; the numbers differ between "
            "versions (24 meant 'invalid CA certificate' before OpenSSL 3.0).",
        ),
        remedy="Look the code up for the OpenSSL version that logged it; the reason text "
        "logged next to the number is more reliable than the number.",
        side=_E,
        severity=_ERROR,
        finding_id=_UNKNOWN_VERIFY_ID,
        code=code,
        macro=macro,
    )


def verify_name(code: int) -> str:
    """The ``X509_V_ERR_…`` macro name of a verify code (``X509_V_ERR_UNKNOWN_<n>`` if unknown)."""
    entry = VERIFY_CODES.get(code)
    return entry.macro if entry is not None else f"X509_V_ERR_UNKNOWN_{code}"


# -- TLS alerts -------------------------------------------------------------------------


def _cert_rejected(who: str, summary: str, causes: tuple[str, ...], remedy: str) -> _View:
    """The view of a side whose own certificate the peer rejected."""
    if who == "client":
        return _View("client_certificate_rejected", _C, summary, causes, remedy)
    return _View("server_certificate_rejected", _S, summary, causes, remedy)


_ASK_SERVER_LOG = "the server operator's log names the exact verify error"
_PROBE_LISTENER = (
    "Probe this server with tlsdiag probe to see what a client gets, and ask the partner "
    "for their client log."
)


class _Alert(NamedTuple):
    """A TLS alert: its number, name, OpenSSL's text and what it means.

    ``from_server`` is the reading of a client that received it, ``from_client`` the
    reading of a server that received it; ``None`` stands for the generic reading.
    """

    number: int
    name: str
    reason: str
    meaning: str
    from_server: _View | None = None
    from_client: _View | None = None
    severity: Severity = _ERROR


_ALERT_ROWS: tuple[_Alert, ...] = (
    _Alert(
        0,
        "close_notify",
        "close notify",
        "The sender is closing the connection in an orderly way.",
        severity=_INFO,
    ),
    _Alert(
        10,
        "unexpected_message",
        "tls alert unexpected message",
        "A TLS message arrived that was not expected at that point of the handshake.",
    ),
    _Alert(
        20,
        "bad_record_mac",
        "tls alert bad record mac",
        "A record failed its integrity check: "
        "data was damaged or altered in transit, or an implementation is broken.",
    ),
    _Alert(
        21,
        "decryption_failed",
        "tlsv1 alert decryption failed",
        "A record could not be decrypted (obsolete alert of old TLS versions).",
    ),
    _Alert(
        22,
        "record_overflow",
        "tlsv1 alert record overflow",
        "A record was longer than the protocol allows.",
    ),
    _Alert(
        30,
        "decompression_failure",
        "tls alert decompression failure",
        "Decompressing a record failed (TLS compression is obsolete).",
    ),
    _Alert(
        40,
        "handshake_failure",
        "tls alert handshake failure",
        "The sender could not agree on the handshake parameters and gave no more specific reason.",
        _View(
            "handshake_failure",
            _E,
            "The server refused the handshake without saying exactly why.",
            (
                "No cipher suite, key-exchange group or signature algorithm in common (the "
                "server's log then says, for example, 'no shared cipher').",
                "With TLS 1.2: the server requires a client certificate and none was sent.",
                "The server does not serve the requested host name, or blocks this client.",
            ),
            "Compare the TLS versions and cipher suites both sides allow (tlsdiag probe "
            "--versions), send a client certificate if the server requires one, and ask the "
            "server operator for the matching log line.",
        ),
        _View(
            "handshake_failure",
            _E,
            "The client refused the handshake without saying exactly why.",
            (
                "The client finds this server's Diffie-Hellman group too small or its "
                "parameters unacceptable.",
                "No cipher suite or signature algorithm in common with the client's settings.",
            ),
            "Offer TLS 1.2 and 1.3 with ECDHE cipher suites, and ask the partner for their "
            "client log.",
        ),
    ),
    _Alert(
        41,
        "no_certificate",
        "tls alert no certificate",
        "The sender had no certificate to send (obsolete SSL 3.0 alert).",
        _View(
            "client_certificate_required",
            _C,
            "The server reports that no client certificate was sent.",
            ("An old SSL 3.0 implementation on the server side.",),
            "Configure a client certificate, and move the server to TLS 1.2 or later.",
        ),
    ),
    _Alert(
        42,
        "bad_certificate",
        "tls alert bad certificate",
        "The sender rejected the certificate it was shown (bad signature, not yet valid, "
        "wrong name, weak key or similar).",
        _cert_rejected(
            "client",
            "The server rejected our client certificate.",
            (
                "The certificate is damaged or not yet valid, or its key or signature is too "
                "weak for the server.",
                f"Something else about it is wrong; {_ASK_SERVER_LOG}.",
            ),
            "Check the client certificate (tlsdiag inspect) and use one the server accepts.",
        ),
        _cert_rejected(
            "server",
            "The client rejected this server's certificate.",
            (
                "The host name the client used is not in the certificate.",
                "The certificate is not yet valid by the client's clock.",
                "Its key or signature is too weak for the client (RSA below 2048 bits, SHA-1).",
            ),
            "Fix the certificate (names, key size, signature) or the partner's clock. "
            + _PROBE_LISTENER,
        ),
    ),
    _Alert(
        43,
        "unsupported_certificate",
        "tls alert unsupported certificate",
        "The sender cannot use the certificate it was shown for this purpose (wrong key "
        "usage or key type).",
        _cert_rejected(
            "client",
            "The server cannot use our client certificate for client authentication.",
            (
                "The certificate lacks the clientAuth extended key usage.",
                "Its key type is not supported by the server.",
            ),
            "Use a client certificate with the clientAuth extended key usage and an RSA or "
            "ECDSA key.",
        ),
        _cert_rejected(
            "server",
            "The client cannot use this server's certificate for a server.",
            (
                "The certificate lacks the serverAuth extended key usage.",
                "Its key type is not supported by the client.",
            ),
            "Reissue the certificate with the serverAuth extended key usage and an RSA or "
            "ECDSA key.",
        ),
    ),
    _Alert(
        44,
        "certificate_revoked",
        "tls alert certificate revoked",
        "The sender found the certificate it was shown revoked by its CA.",
        _cert_rejected(
            "client",
            "The server says our client certificate is revoked.",
            ("The CA revoked the certificate (key compromise, replacement, leaving staff).",),
            "Get a new client certificate; a revoked one cannot be used again.",
        ),
        _cert_rejected(
            "server",
            "The client says this server's certificate is revoked.",
            ("The CA revoked the certificate, but the server still uses it.",),
            "Install a new certificate on the server.",
        ),
    ),
    _Alert(
        45,
        "certificate_expired",
        "tls alert certificate expired",
        "The sender found the certificate it was shown expired.",
        _cert_rejected(
            "client",
            "The server says our client certificate (or one in its chain) has expired.",
            (
                "The client certificate was not renewed.",
                "The server's clock is ahead.",
            ),
            "Renew the client certificate; if its dates are fine, the server's clock is wrong.",
        ),
        _cert_rejected(
            "server",
            "The client says this server's certificate (or one in its chain) has expired.",
            (
                "The certificate or an intermediate sent with it is past its expiry date.",
                "The client's clock is wrong.",
            ),
            "Renew the certificate and serve the current chain; if the dates are fine, the "
            "partner must fix their clock.",
        ),
    ),
    _Alert(
        46,
        "certificate_unknown",
        "tls alert certificate unknown",
        "The sender rejected the certificate it was shown for a reason no more specific alert "
        "covers.",
        _cert_rejected(
            "client",
            "The server rejected our client certificate without a specific reason.",
            (f"A chain, purpose or policy problem; {_ASK_SERVER_LOG}.",),
            "Check the client certificate and its chain (tlsdiag inspect), and ask the server "
            "operator for their log.",
        ),
        _cert_rejected(
            "server",
            "The client rejected this server's certificate without a specific reason.",
            (
                "A chain problem (missing intermediate), a name or purpose problem, or a "
                "strict-mode check on the client.",
            ),
            _PROBE_LISTENER,
        ),
    ),
    _Alert(
        47,
        "illegal_parameter",
        "tls alert illegal parameter",
        "A handshake field had a value that is out of range or contradicts other fields.",
    ),
    _Alert(
        48,
        "unknown_ca",
        "tlsv1 alert unknown ca",
        "The sender does not trust the CA behind the certificate it was shown, or could not "
        "build a chain to one.",
        _cert_rejected(
            "client",
            "The server does not accept the CA that issued our client certificate.",
            (
                "Our client certificate comes from a CA that is not among the server's client CAs.",
                "We do not send the intermediate between our certificate and the CA the "
                "server trusts.",
            ),
            "Use a client certificate from a CA the server accepts (the server lists them in "
            "its certificate request), send the full client chain, or ask the server "
            "operator to add our CA.",
        ),
        _cert_rejected(
            "server",
            "The client does not trust the CA behind this server's certificate.",
            (
                "The server does not send its intermediate certificates.",
                "The certificate comes from a private CA the client has not imported.",
                "The client's CA bundle is outdated.",
            ),
            "Serve the full chain; if the certificate comes from a private CA, give the "
            "partner the CA certificate to import.",
        ),
    ),
    _Alert(
        49,
        "access_denied",
        "tlsv1 alert access denied",
        "The sender accepted the certificate, but the identity it proves is not allowed in.",
        _View(
            "access_denied",
            _E,
            "The server accepted our client certificate but does not let that identity in.",
            ("The certificate's subject is not on the server's list of allowed clients.",),
            "Use the certificate the server expects, or ask the server operator to allow "
            "this identity.",
        ),
    ),
    _Alert(
        50,
        "decode_error",
        "tlsv1 alert decode error",
        "A message could not be decoded: it is malformed or a field has the wrong length.",
    ),
    _Alert(
        51,
        "decrypt_error",
        "tlsv1 alert decrypt error",
        "A handshake signature or key check "
        "failed: a certificate or handshake signature does not verify, or the final "
        "handshake check failed.",
    ),
    _Alert(
        60,
        "export_restriction",
        "tlsv1 alert export restriction",
        "Obsolete export-restriction alert of old TLS versions.",
    ),
    _Alert(
        70,
        "protocol_version",
        "tlsv1 alert protocol version",
        "The sender does not support the TLS version that was offered or chosen.",
        _View(
            "protocol_version",
            _E,
            "The server supports none of the TLS versions we offered.",
            (
                "The server speaks only TLS 1.0 or 1.1, which current clients no longer offer.",
                "The server accepts only TLS 1.3 and we offered at most TLS 1.2.",
            ),
            "Enable TLS 1.2 and 1.3 on the server; TLS 1.0 and 1.1 are deprecated (RFC 8996).",
        ),
        _View(
            "protocol_version",
            _E,
            "The client supports none of the TLS versions this server accepts.",
            ("The client speaks only TLS 1.0 or 1.1.",),
            "Ask the partner to enable TLS 1.2 or 1.3; lowering the server's minimum is only "
            "a stopgap.",
        ),
    ),
    _Alert(
        71,
        "insufficient_security",
        "tlsv1 alert insufficient security",
        "The sender requires stronger cipher suites than the other side offers.",
        _View(
            "no_shared_cipher",
            _E,
            "The server requires stronger cipher suites than we offered.",
            ("Our cipher list contains only old or weak suites.",),
            "Offer modern suites (AES-GCM or ChaCha20-Poly1305 with ECDHE) on the client.",
        ),
        _View(
            "no_shared_cipher",
            _E,
            "The client requires stronger cipher suites than this server offers.",
            ("The server's cipher list contains only old or weak suites.",),
            "Offer modern suites (AES-GCM or ChaCha20-Poly1305 with ECDHE) on the server.",
        ),
    ),
    _Alert(
        80,
        "internal_error",
        "tlsv1 alert internal error",
        "The sender hit an internal problem, or one of its checks rejected the handshake "
        "without a specific reason.",
        _View(
            "peer_internal_error",
            _E,
            "The server reported an internal error.",
            (
                "The server cannot sign with any algorithm the offered TLS version allows "
                "(a modern server asked for TLS 1.0).",
                "A server-side callback (certificate selection, SNI) failed.",
                "The server is short of resources.",
            ),
            "Check the server's log at the time of the probe, and use TLS 1.2 or 1.3.",
        ),
        _View(
            "peer_internal_error",
            _E,
            "The client reported an internal error.",
            (
                "The client's own certificate check (a pinning callback) rejected this "
                "server's certificate without a specific code.",
                "The client's TLS library failed or is short of resources.",
            ),
            "Ask the partner for their client log.",
        ),
    ),
    _Alert(
        86,
        "inappropriate_fallback",
        "tlsv1 alert inappropriate fallback",
        "The client retried "
        "with a lower TLS version although both sides support a higher one; the server refuses "
        "the downgrade.",
    ),
    _Alert(
        90,
        "user_canceled",
        "tlsv1 alert user cancelled",
        "The sender cancelled the handshake for a reason unrelated to the protocol.",
        severity=_WARNING,
    ),
    _Alert(
        100,
        "no_renegotiation",
        "tlsv1 alert no renegotiation",
        "The sender refuses to renegotiate the connection.",
        severity=_WARNING,
    ),
    _Alert(
        109,
        "missing_extension",
        "tlsv13 alert missing extension",
        "A TLS 1.3 extension the sender requires was missing.",
    ),
    _Alert(
        110,
        "unsupported_extension",
        "tlsv1 unsupported extension",
        "The handshake contained an extension the sender did not ask for.",
    ),
    _Alert(
        111,
        "certificate_unobtainable",
        "tlsv1 certificate unobtainable",
        "The sender could not fetch a certificate from a URL given in the handshake (obsolete).",
    ),
    _Alert(
        112,
        "unrecognized_name",
        "tlsv1 unrecognized name",
        "The sender does not serve the host name given in the server name indication (SNI).",
        _View(
            "unrecognized_name",
            _C,
            "The server does not serve the host name we asked for (SNI).",
            (
                "A typo in the host name or in --servername.",
                "The virtual host is not configured on this server or load balancer.",
            ),
            "Use a host name the server is configured for, or ask the server operator to add it.",
        ),
    ),
    _Alert(
        113,
        "bad_certificate_status_response",
        "tlsv1 bad certificate status response",
        "The OCSP response stapled to the certificate is invalid.",
        _View(
            "ocsp_staple_invalid",
            _S,
            "The server's stapled OCSP response is invalid.",
            ("The server staples a stale, broken or unrelated OCSP response.",),
            "Fix OCSP stapling on the server (the responder must be reachable) or switch it off.",
        ),
    ),
    _Alert(
        114,
        "bad_certificate_hash_value",
        "tlsv1 bad certificate hash value",
        "A certificate hash did not match (obsolete alert).",
    ),
    _Alert(
        115,
        "unknown_psk_identity",
        "tlsv1 alert unknown psk identity",
        "The sender does not know the pre-shared key identity offered.",
    ),
    _Alert(
        116,
        "certificate_required",
        "tlsv13 alert certificate required",
        "The sender (a TLS 1.3 server) requires a client certificate and none was sent.",
        _View(
            "client_certificate_required",
            _C,
            "The server requires a client certificate and we sent none.",
            (
                "No client certificate is configured (--cert and --key).",
                "None of our certificates comes from a CA the server names, so none was sent.",
            ),
            "Configure a client certificate from a CA the server accepts. With TLS 1.3 this "
            "shows only after the handshake, on the first read.",
        ),
    ),
    _Alert(
        120,
        "no_application_protocol",
        "tlsv1 alert no application protocol",
        "The sender supports none of the application protocols offered via ALPN.",
        _View(
            "alpn_mismatch",
            _E,
            "The server supports none of the application protocols we offered (ALPN).",
            ("The client offers only h2 and the server only http/1.1, or the reverse.",),
            "Offer a protocol the server supports, or fix the server's ALPN list.",
        ),
    ),
)


_ALERTS: Mapping[int, _Alert] = types.MappingProxyType({a.number: a for a in _ALERT_ROWS})
_ALERT_NAMES = {a.name: a.number for a in _ALERTS.values()} | {"user_cancelled": 90}

# What follows the "tls alert" / "tlsv1" prefix in OpenSSL's text, to find the alert.
_ALERT_PREFIX = re.compile(r"(?<![a-z0-9])(?:sslv3|ssl3|tlsv1|tlsv13|tls)\s+(?:alert\s+)?")
_ALERT_DESCRIPTIONS = sorted(
    ((_ALERT_PREFIX.sub("", a.reason, count=1), a.number) for a in _ALERTS.values() if a.number),
    key=lambda item: -len(item[0]),
)
_ALERT_NUMBER = re.compile(r"alert number\s*(\d{1,3})\b")


def _generic_alert_view(entry: _Alert, sender: str) -> _View:
    return _View(
        f"tls_alert_{entry.name}",
        _E,
        f"The {sender} ended the handshake with TLS alert {entry.name}: {entry.meaning}",
        (f"The {sender}'s own TLS log names the exact check that failed.",),
        f"Look at the {sender}'s TLS log for the same moment, and compare the TLS versions, "
        "cipher suites and certificates both sides use.",
    )


def _alert_view(entry: _Alert, seen_by: Side) -> _View:
    if seen_by == _S:
        return entry.from_client or _generic_alert_view(entry, "client")
    return entry.from_server or _generic_alert_view(entry, "server")


def alert(number: int) -> Explanation:
    """What a TLS alert means, for either side; a generic entry for an unknown number."""
    entry = _ALERTS.get(number)
    if entry is None:
        return Explanation(
            kind="alert",
            key=f"alert:{number}",
            title=f"TLS alert {number}",
            reason="unknown alert",
            summary=f"{_OPENSSL} has no name for TLS alert {number}.",
            causes=("A newer TLS extension's alert, or a value that is not a TLS alert.",),
            remedy="Look the number up in the IANA TLS Alerts registry, and check the "
            "sender's log.",
            side=_E,
            severity=_ERROR,
            finding_id="tls_alert_unknown",
        )
    client, server = _alert_view(entry, _C), _alert_view(entry, _S)
    causes = [
        f"{label}: {view.summary}"
        for label, view, specific in (
            ("Received by a client (the server sent it)", client, entry.from_server),
            ("Received by a server (a client sent it)", server, entry.from_client),
        )
        if specific is not None
    ]
    if entry.number == 0:
        remedy = "Nothing to do: this is how TLS connections end."
        causes = ["The sender has finished and closes the connection."]
    elif causes:
        remedy = f"As the client: {client.remedy} As the server: {server.remedy}"
    else:
        causes = ["The sender's own TLS log names the exact check that failed."]
        remedy = _generic_alert_view(entry, "sender").remedy
    return Explanation(
        kind="alert",
        key=f"alert:{entry.number}",
        title=f"{entry.name} (TLS alert {entry.number})",
        reason=entry.reason,
        summary=entry.meaning,
        causes=tuple(causes),
        remedy=remedy,
        side=client.side if client.side == server.side else _E,
        severity=entry.severity,
        finding_id=f"tls_alert_{entry.name}",
    )


def _alert_seen(number: int, seen_by: Side) -> Explanation:
    entry = _ALERTS[number]
    view = _alert_view(entry, seen_by)
    sender = "a client" if seen_by == _S else "the server"
    return Explanation(
        kind="alert",
        key=f"alert:{number}",
        title=f"{entry.name} (TLS alert {number}, sent by {sender})",
        reason=entry.reason,
        summary=view.summary,
        causes=view.causes,
        remedy=view.remedy,
        side=view.side,
        severity=entry.severity,
        finding_id=view.finding_id,
    )


# -- handshake reasons ------------------------------------------------------------------


class _Reason(NamedTuple):
    """Reason texts of the linked OpenSSL, read by the side that saw them."""

    texts: tuple[str, ...]
    client: _View
    server: _View | None = None
    aliases: tuple[str, ...] = ()


def _own_certificate_refused(
    text: str, finding_id: str, causes: tuple[str, ...], fix: str
) -> _Reason:
    """A reason OpenSSL gives when this side's own certificate is too weak to load."""
    return _Reason(
        (text,),
        _View(
            finding_id,
            _C,
            "OpenSSL refused our own client certificate: it is too weak for the security level.",
            causes,
            fix,
        ),
        _View(
            finding_id,
            _S,
            "OpenSSL refused this server's own certificate: it is too weak for the security level.",
            causes,
            fix,
        ),
    )


_VERSION_FIX = "Enable TLS 1.2 and 1.3 on both sides; TLS 1.0 and 1.1 are deprecated (RFC 8996)."
_NOT_TLS_FIX = (
    "Check the scheme and port: ftpes:// for explicit FTPS (port 21, AUTH TLS), ftps:// for "
    "implicit FTPS (port 990), https:// and tls:// only for ports that speak TLS at once."
)

_REASONS: tuple[_Reason, ...] = (
    _Reason(
        ("certificate verify failed",),
        _View(
            "certificate_verify_failed",
            _E,
            "We stopped the handshake because the server's certificate failed verification.",
            ("The verify errors recorded for the chain name the exact problem.",),
            "Look at the verify errors: each code has its own explanation (tlsdiag explain "
            "<code>).",
        ),
        _View(
            "client_certificate_rejected",
            _E,
            "This server rejected the client's certificate: it failed verification.",
            (
                "The client certificate comes from a CA that is not among this server's "
                "client CAs.",
                "The client certificate is expired, revoked or not meant for clients.",
            ),
            "Look at the verify errors for the client certificate; add the partner's CA to "
            "the client CAs, or have the partner use a certificate from an accepted CA.",
        ),
    ),
    _Reason(
        ("wrong version number", "unknown protocol", "packet length too long"),
        _View(
            "not_tls",
            _E,
            "The server's answer was not TLS.",
            (
                "A plain-text service on that port: an explicit-FTPS port (which greets with "
                "'220') used as implicit FTPS, or plain HTTP.",
                "The wrong port, or a proxy or captive portal answering in plain text.",
            ),
            _NOT_TLS_FIX,
        ),
        _View(
            "not_tls",
            _C,
            "A client sent something that is not TLS to this TLS port.",
            (
                "An explicit-FTPS client (plain FTP first, then AUTH TLS) connected to the "
                "implicit port.",
                "A plain-text client, a port scanner or a health check.",
            ),
            "The client must start TLS at once on this port, or use the explicit-FTPS / "
            "plain-HTTP port instead.",
        ),
    ),
    _Reason(
        ("http request",),
        _View(
            "plain_http_on_tls_port",
            _C,
            "A plain HTTP request arrived at a port that expects TLS.",
            ("Someone used http:// for an https:// service.",),
            "Use https:// for this port.",
        ),
    ),
    _Reason(
        ("https proxy request",),
        _View(
            "proxy_request_on_tls_port",
            _C,
            "An HTTP proxy request (CONNECT) arrived at a port that expects TLS.",
            ("A client is configured to use this server as its HTTP proxy.",),
            "Fix the client's proxy setting.",
        ),
    ),
    _Reason(
        ("unexpected eof while reading",),
        _View(
            "connection_closed",
            _E,
            "The server closed the connection during the handshake without a TLS alert.",
            (
                "TLS is not enabled behind a port forward or load balancer.",
                "An intrusion-prevention system, SNI filter or firewall drops the handshake.",
                "The server rejected something (our client certificate, our TLS version) "
                "and hung up without an alert.",
                "The server process crashed or hit a connection limit.",
            ),
            "Look at the server's log at the time of the probe; probe from another network "
            "to rule out middleboxes.",
        ),
        _View(
            "connection_closed",
            _E,
            "The client closed the connection during the handshake without a TLS alert.",
            (
                "The client rejected this server's certificate and hung up without an alert "
                "(some Java and .NET clients do this).",
                "A port scanner or load-balancer health check opened and closed the connection.",
                "The client ran into its own timeout.",
            ),
            "Ask the partner for their client log, and check that they trust this server's "
            "certificate chain.",
        ),
        aliases=("unexpected eof",),
    ),
    _Reason(
        ("no shared cipher",),
        _View(
            "no_shared_cipher",
            _E,
            "The two sides have no cipher suite in common.",
            (
                "The server accepts only suites the client does not offer (for example a "
                "single ECDHE-RSA suite, which an ECDSA certificate cannot use).",
                "The client's cipher list is restricted to old suites.",
            ),
            "Compare the cipher suites both sides allow and enable a common modern suite "
            "(AES-GCM or ChaCha20-Poly1305 with ECDHE).",
        ),
        _View(
            "no_shared_cipher",
            _E,
            "The client offered no cipher suite that this server accepts.",
            (
                "The client offers only old suites this server disabled.",
                "This server's certificate key type fits none of the offered suites.",
            ),
            "Enable a modern suite the client offers (AES-GCM or ChaCha20-Poly1305 with "
            "ECDHE), or ask the partner to update their client.",
        ),
    ),
    _Reason(
        ("no shared groups", "no suitable key share", "no suitable groups"),
        _View(
            "no_shared_group",
            _E,
            "The two sides have no key-exchange group (curve) in common.",
            ("One side restricts its groups (FIPS mode, post-quantum only, P-256 only).",),
            "Enable a common group such as X25519 or P-256 on both sides.",
        ),
    ),
    _Reason(
        (
            "no suitable signature algorithm",
            "no shared signature algorithms",
            "legacy sigalg disallowed or unsupported",
        ),
        _View(
            "no_shared_signature_algorithm",
            _E,
            "The two sides have no signature algorithm in common for the handshake.",
            (
                "A server limited to TLS 1.0 or 1.1 signs with SHA-1 or MD5, which the "
                "client's security level refuses.",
                "A modern server was asked for TLS 1.0 and cannot sign for it.",
            ),
            _VERSION_FIX,
        ),
    ),
    _Reason(
        ("peer did not return a certificate", "no certificates returned"),
        _View(
            "client_certificate_required",
            _C,
            "The server requires a client certificate and none was sent.",
            (
                "No client certificate is configured (--cert and --key).",
                "None of our certificates comes from a CA the server names, so none was sent.",
            ),
            "Configure a client certificate from a CA the server accepts.",
        ),
        _View(
            "client_certificate_missing",
            _C,
            "The client sent no certificate, but this server requires one.",
            (
                "The partner's client is not configured with its certificate and key.",
                "The partner's certificate comes from none of the CAs this server names, so "
                "their client sent none.",
            ),
            "The partner must configure their client certificate; make sure this server's "
            "client CAs include the CA that issued it.",
        ),
    ),
    _Reason(
        ("unsupported protocol", "unsupported ssl version", "wrong ssl version"),
        _View(
            "protocol_version",
            _E,
            "The two sides have no TLS version in common.",
            (
                "The server speaks only TLS 1.0 or 1.1, or only TLS 1.3.",
                "The client is limited to versions the server no longer accepts.",
            ),
            _VERSION_FIX,
        ),
        _View(
            "protocol_version",
            _E,
            "The client offered only TLS versions this server does not accept.",
            ("The partner's client speaks only TLS 1.0 or 1.1.",),
            "Ask the partner to enable TLS 1.2 or 1.3; lowering this server's minimum is only "
            "a stopgap.",
        ),
    ),
    _Reason(
        ("version too low",),
        _View(
            "protocol_version",
            _S,
            "The server chose a TLS version below our minimum.",
            ("The server supports at most TLS 1.0 or 1.1.",),
            "Enable TLS 1.2 and 1.3 on the server.",
        ),
        _View(
            "protocol_version",
            _C,
            "The client chose a TLS version below this server's minimum.",
            ("The partner's client supports at most TLS 1.0 or 1.1.",),
            "Ask the partner to enable TLS 1.2 or 1.3.",
        ),
    ),
    _Reason(
        ("no protocols available",),
        _View(
            "protocol_version",
            _C,
            "Our own settings leave no TLS version to offer, so nothing was sent.",
            (
                "The minimum and maximum versions exclude each other, or the requested "
                "version (TLS 1.0, 1.1) is disabled in this OpenSSL or by its security level.",
            ),
            "Allow TLS 1.2 or 1.3 on the client.",
        ),
        _View(
            "protocol_version",
            _S,
            "This server's own settings leave no TLS version to accept.",
            ("The minimum and maximum versions exclude each other.",),
            "Allow TLS 1.2 and 1.3 on the server.",
        ),
    ),
    _Reason(
        ("dh key too small",),
        _View(
            "weak_dh",
            _S,
            "The server's Diffie-Hellman group is smaller than our security level allows.",
            ("The server uses DHE with a group below 2048 bits (old dhparam file).",),
            "Configure a 2048-bit or larger DH group on the server, or prefer ECDHE suites.",
        ),
        _View(
            "weak_dh",
            _S,
            "This server's Diffie-Hellman group is smaller than the security level allows.",
            ("The configured dhparam file has fewer than 2048 bits.",),
            "Configure a 2048-bit or larger DH group, or prefer ECDHE suites.",
        ),
    ),
    _own_certificate_refused(
        "ee key too small",
        "weak_key",
        ("The certificate's RSA or DSA key has fewer than 2048 bits.",),
        "Reissue the certificate with an RSA key of at least 2048 bits or an ECDSA P-256 key.",
    ),
    _own_certificate_refused(
        "ca key too small",
        "weak_key",
        ("A CA certificate in the configured chain has a key below 2048 bits.",),
        "Use a chain whose CA keys have at least 2048 bits.",
    ),
    _own_certificate_refused(
        "ca md too weak",
        "weak_signature",
        ("The certificate or its chain is signed with SHA-1 or MD5.",),
        "Reissue the certificate with a SHA-256 (or stronger) signature.",
    ),
    _Reason(
        ("excessive message size",),
        _View(
            "excessive_message_size",
            _S,
            "The server sent a handshake message larger than OpenSSL accepts.",
            (
                "A huge list of accepted client CA names in the certificate request (every "
                "CA of a big trust store).",
                "An oversized certificate chain.",
            ),
            "Name only the CAs that actually issue client certificates, and serve a normal chain.",
        ),
        _View(
            "excessive_message_size",
            _C,
            "The client sent a handshake message larger than OpenSSL accepts.",
            ("An oversized client certificate chain.",),
            "The partner must send a shorter client certificate chain.",
        ),
    ),
    _Reason(
        ("unsafe legacy renegotiation disabled",),
        _View(
            "legacy_renegotiation",
            _S,
            "The server does not support secure renegotiation (RFC 5746), which OpenSSL 3 and "
            "later require.",
            ("An old appliance, FTP server or TLS library on the server.",),
            "Update the server's TLS software. As a stopgap the client can allow legacy "
            "server connections (OP_LEGACY_SERVER_CONNECT).",
        ),
        _View(
            "legacy_renegotiation",
            _C,
            "The client does not support secure renegotiation (RFC 5746).",
            ("An old TLS library in the partner's client.",),
            "Ask the partner to update their TLS software.",
        ),
    ),
    _Reason(
        ("callback failed",),
        _View(
            "handshake_callback_failed",
            _E,
            "An application callback refused the handshake.",
            (
                "The server's SNI callback does not know the requested host name.",
                "Our own certificate or verify callback failed.",
            ),
            "Check the host name sent (--servername) and the log of the side that refused.",
        ),
    ),
    _Reason(
        (
            "unexpected message",
            "unexpected record",
            "decryption failed or bad record mac",
            "record layer failure",
            "bad packet length",
            "length mismatch",
        ),
        _View(
            "tls_protocol_error",
            _E,
            "The TLS exchange broke down: a message was malformed, damaged or out of order.",
            (
                "A middlebox (proxy, firewall, load balancer) altered the traffic.",
                "A bug or incompatibility in one side's TLS implementation.",
                "With 'record layer failure': OpenSSL adds it to a more specific error "
                "reported just before it.",
            ),
            "Repeat the probe without middleboxes in the path, and compare with another "
            "client; update old TLS software.",
        ),
    ),
)

_REASON_ENTRIES = {text: reason for reason in _REASONS for text in reason.texts + reason.aliases}


def _words(texts: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding any of the texts as whole words, the longest first."""
    ordered = sorted(texts, key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, ordered)) + r")(?![a-z0-9])")


_REASON_PATTERN = _words(_REASON_ENTRIES)


def _reason_seen(matched: str, seen_by: Side) -> Explanation:
    reason = _REASON_ENTRIES[matched]
    # An alias (another version's wording) is reported in the linked library's words.
    text = matched if matched in reason.texts else reason.texts[0]
    view = reason.server if seen_by == _S and reason.server is not None else reason.client
    who = "server" if seen_by == _S else "client"
    return Explanation(
        kind="handshake",
        key=text,
        title=f"TLS error seen by the {who}: {text}",
        reason=text,
        summary=view.summary,
        causes=view.causes,
        remedy=view.remedy,
        side=view.side,
        severity=_ERROR,
        finding_id=view.finding_id,
    )


def _unknown_reason(reason: str) -> Explanation:
    return Explanation(
        kind="handshake",
        key=reason,
        title="TLS handshake failed",
        reason=reason,
        summary=f"The TLS handshake failed with OpenSSL's reason “{reason}”, which this "
        "catalogue does not explain.",
        causes=("A rare or version-specific OpenSSL error; its text is the best clue.",),
        remedy="Look for the same text in the other side's log, and compare the TLS "
        "versions, cipher suites and certificates both sides use.",
        side=_E,
        severity=_ERROR,
        finding_id="handshake_failed",
    )


# -- connection failures ----------------------------------------------------------------

# kind, summary, causes, remedy
_CONNECTION_ROWS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "resolve_failed",
        "The host name could not be resolved to an address.",
        (
            "A typo in the host name, or the DNS record does not exist (yet).",
            "The name exists only in an internal DNS this machine does not use.",
            "The resolver is unreachable.",
        ),
        "Check the name with dig or nslookup from the probing machine; fix the DNS record or "
        "use the right name.",
    ),
    (
        "connection_refused",
        "The connection was refused: nothing accepts connections on that port.",
        (
            "The service is not running, or listens on another port or address.",
            "The wrong port for the mode (990 for implicit FTPS, 21 for explicit).",
            "A firewall rejects the connection actively.",
        ),
        "Check that the service runs and listens on that address and port, and that the URL "
        "uses the right port.",
    ),
    (
        "connection_reset",
        "The connection was reset (TCP RST) by the other side or by a device in between.",
        (
            "A firewall or intrusion-prevention system cut the connection.",
            "The service crashed or refused the client after accepting the connection.",
        ),
        "Look at the logs of the service and of firewalls in the path at that moment.",
    ),
    (
        "timeout",
        "No answer arrived in time.",
        (
            "A firewall drops the packets silently (connect phase).",
            "The service waits for the other side to speak first: an implicit/explicit "
            "FTPS or plain/TLS mix-up (handshake phase).",
            "The server or network is overloaded.",
        ),
        "Check firewalls and routing for the port; check that scheme and port match the "
        "service (TLS at once or after a plain-text greeting).",
    ),
    (
        "no_route",
        "There is no network route to the host.",
        (
            "The host or its network is down or unreachable from here.",
            "A routing or VPN problem on the probing machine.",
        ),
        "Check routing and VPNs from the probing machine (ping, traceroute).",
    ),
    (
        "connection_closed",
        "The other side closed the connection before or during the TLS handshake.",
        (
            "TLS is not enabled behind a port forward or load balancer.",
            "A firewall, SNI filter or intrusion-prevention system drops the handshake.",
            "The other side rejected something and hung up without a TLS alert.",
        ),
        "Look at the other side's log at that moment; probe from another network to rule "
        "out middleboxes.",
    ),
    (
        "connect_error",
        "The TCP connection could not be established.",
        ("A local network error on the probing machine or in the path.",),
        "Check the network configuration of the probing machine and the path to the host.",
    ),
)
_CONNECTIONS = {row[0]: row for row in _CONNECTION_ROWS}

# Texts of the socket layer and of Twisted that name a connection failure.
_CONNECTION_PHRASES = {
    "connection refused": "connection_refused",
    "econnrefused": "connection_refused",
    "connection reset": "connection_reset",
    "econnreset": "connection_reset",
    "timed out": "timeout",
    "etimedout": "timeout",
    "no route to host": "no_route",
    "network is unreachable": "no_route",
    "ehostunreach": "no_route",
    "enetunreach": "no_route",
    "name or service not known": "resolve_failed",
    "nodename nor servname provided": "resolve_failed",
    "temporary failure in name resolution": "resolve_failed",
    "dns lookup failed": "resolve_failed",
    "connection lost": "connection_closed",
    "connection was closed": "connection_closed",
}
_CONNECTION_PATTERN = _words(_CONNECTION_PHRASES)


def connection_error(kind: str) -> Explanation:
    """What a connection failure of the given kind (``timeout``, ``connection_refused``…) means.

    The kinds are a closed set; an unknown kind raises ``KeyError``.
    """
    name, summary, causes, remedy = _CONNECTIONS[kind]
    return Explanation(
        kind="connection",
        key=name,
        title=f"Connection failure: {name.replace('_', ' ')}",
        reason=name.replace("_", " "),
        summary=summary,
        causes=causes,
        remedy=remedy,
        side=_E,
        severity=_ERROR,
        finding_id=name,
    )


# -- classify_tls_error -----------------------------------------------------------------

_PYTHON_SSL_TAG = re.compile(r"\[ssl(?::[^\]]*)?\]|\(_ssl\.c:\d+\)")
_PACKED_CODE = re.compile(r"error:([0-9a-f]{8})")


def _find_alert(text: str) -> int | None:
    """The number of the TLS alert a reason text reports, if any."""
    number = _ALERT_NUMBER.search(text)
    if number is not None and int(number.group(1)) in _ALERTS:
        return int(number.group(1))
    for prefix in _ALERT_PREFIX.finditer(text):
        rest = text[prefix.end() :]
        for description, alert_number in _ALERT_DESCRIPTIONS:
            after = rest[len(description) : len(description) + 1]
            if rest.startswith(description) and not after.isalnum():
                return alert_number
    # OpenSSL packs a received alert into its error code as reason 1000 + alert.
    for packed in _PACKED_CODE.finditer(text):
        code = int(packed.group(1), 16)
        if code >> 23 == 20 and (code & 0x7FFFFF) - 1000 in _ALERTS:
            return (code & 0x7FFFFF) - 1000
    return None


def _classify(reason: str, seen_by: Side) -> Explanation | None:
    text = _PYTHON_SSL_TAG.sub(" ", reason.lower())
    text = " ".join(text.split())
    number = _find_alert(text)
    if number is not None:
        return _alert_seen(number, seen_by)
    found = _REASON_PATTERN.search(text)
    if found is not None:
        return _reason_seen(found.group(1), seen_by)
    found = _CONNECTION_PATTERN.search(text)
    if found is not None:
        return connection_error(_CONNECTION_PHRASES[found.group(1)])
    return None


def classify_tls_error(reason: str, *, seen_by: Side) -> Explanation:
    """Explain an OpenSSL reason text from the point of view of the side that saw it.

    ``seen_by`` is the side we are: ``CLIENT`` for a probe (a received alert came from
    the server), ``SERVER`` for a listener; ``EITHER`` reads like ``CLIENT``.  Alert
    texts are matched on what follows the ``sslv3``/``tls``/``tlsv1`` prefix, so
    OpenSSL 3 and 4 texts give the same entry.  Unknown texts give a generic entry
    quoting the reason; this never raises.
    """
    text = str(reason).strip()
    return _classify(text, seen_by) or _unknown_reason(text)


# -- FTP replies ------------------------------------------------------------------------

_FTP_POSITIVE = "ftp_reply_positive"
_FTP_TRANSIENT = "ftp_reply_transient_error"
_FTP_PERMANENT = "ftp_reply_permanent_error"
_FTP_PROTECTED = "ftp_reply_protected"
_NOTHING = "Nothing to do."
_REUSE = (
    "The server requires the data connection's TLS session to resume the control "
    "connection's session, and the client did not (with TLS 1.3 the session is resumable "
    "only after the server's session tickets were read, and a ticket works only once)."
)
_REUSE_FIX = (
    "Make the client resume the control connection's TLS session on each data connection "
    "(with TLS 1.3: read a reply before taking the session, then chain from the previous "
    "data connection). Turning the requirement off on the server (vsftpd "
    "require_ssl_reuse=NO, proftpd TLSOptions NoSessionReuseRequired) weakens protection "
    "against stolen data connections."
)


class _Reply(NamedTuple):
    """An FTP reply code; the causes include what it means in FTPS."""

    code: int
    text: str
    summary: str
    causes: tuple[str, ...] = ()
    remedy: str = _NOTHING
    side: Side = _E
    finding_id: str = ""  # "" = the id of the reply's class


_FTP_ROWS: tuple[_Reply, ...] = (
    _Reply(
        110, "Restart marker reply.", "The server confirms a restart marker for a resumed transfer."
    ),
    _Reply(
        120,
        "Service ready in nnn minutes.",
        "The server is not ready yet and says when it will be.",
        causes=("The server is starting or overloaded.",),
        remedy="Try again later.",
        side=_S,
    ),
    _Reply(
        125,
        "Data connection already open; transfer starting.",
        "The transfer starts on the open data connection.",
    ),
    _Reply(
        150,
        "File status okay; about to open data connection.",
        "The server is about to use the data connection.",
        causes=(
            "In FTPS the data connection's own TLS handshake follows; a 522 or 425 right "
            "after this usually means the server wanted TLS session reuse.",
        ),
    ),
    _Reply(
        200,
        "Command okay.",
        "The command was accepted.",
        causes=("In FTPS this answers PBSZ 0 and PROT P when data protection is accepted.",),
    ),
    _Reply(
        202,
        "Command not implemented, superfluous at this site.",
        "The command is not needed on this server.",
    ),
    _Reply(
        211,
        "System status, or system help reply.",
        "Status or feature list (the answer to FEAT).",
        causes=("A server offering FTPS lists AUTH TLS, PBSZ and PROT in its features.",),
    ),
    _Reply(212, "Directory status.", "Directory status information."),
    _Reply(213, "File status.", "File status information (size, time)."),
    _Reply(214, "Help message.", "Help text for people."),
    _Reply(215, "NAME system type.", "The server names its operating system type."),
    _Reply(
        220,
        "Service ready for new user.",
        "The server's greeting: it is ready.",
        causes=(
            "On an explicit-FTPS port the greeting comes in plain text, before AUTH TLS.",
            "On an implicit-FTPS port it comes only after the TLS handshake.",
        ),
    ),
    _Reply(221, "Service closing control connection.", "The server says goodbye (after QUIT)."),
    _Reply(
        225,
        "Data connection open; no transfer in progress.",
        "The data connection is open and idle.",
    ),
    _Reply(
        226,
        "Closing data connection. Requested file action successful.",
        "The transfer finished and the data connection is closed.",
    ),
    _Reply(
        227,
        "Entering Passive Mode (h1,h2,h3,h4,p1,p2).",
        "The server names the address and port for the data connection.",
        causes=(
            "In FTPS the control connection is encrypted, so NAT devices cannot rewrite this "
            "address: a private address here means the server must be told its public one "
            "(vsftpd pasv_address, proftpd MasqueradeAddress, pure-ftpd -P).",
        ),
        remedy=(
            "Nothing to do when the address is the one clients reach; otherwise set the "
            "server's public passive address and open its passive port range in the firewall."
        ),
    ),
    _Reply(
        229,
        "Entering Extended Passive Mode (|||port|).",
        "The server names the port for the data connection (RFC 2428).",
        causes=("Only the port is given, so NAT address problems do not arise.",),
        remedy="Nothing to do; the passive port range must be open in the firewall.",
    ),
    _Reply(230, "User logged in, proceed.", "The login succeeded."),
    _Reply(
        232,
        "User logged in, authorized by security data exchange.",
        "The login succeeded through the security mechanism (RFC 2228).",
    ),
    _Reply(
        234,
        "Security data exchange complete.",
        "The server accepted AUTH TLS: the TLS handshake starts now on the same connection.",
        causes=("The normal answer to AUTH TLS in explicit FTPS (RFC 4217).",),
    ),
    _Reply(
        235,
        "Security data exchange completed successfully.",
        "The security data exchange (ADAT) finished (RFC 2228; not used with TLS).",
    ),
    _Reply(250, "Requested file action okay, completed.", "The file action succeeded."),
    _Reply(
        257, "PATHNAME created.", "The directory was created, or this is the current directory."
    ),
    _Reply(
        331,
        "User name okay, need password.",
        "The user name was accepted; the password comes next.",
    ),
    _Reply(
        332,
        "Need account for login.",
        "The server wants an account (ACCT) to log in.",
        remedy="Send the account information the server expects.",
        side=_C,
    ),
    _Reply(
        334,
        "Security mechanism accepted; security data required.",
        "The server accepted the AUTH mechanism but wants a security data exchange (ADAT).",
        causes=(
            "TLS never uses ADAT: a 334 to AUTH TLS means the server expects another "
            "mechanism (GSSAPI/Kerberos) and does not offer TLS this way.",
        ),
        remedy="Enable TLS (AUTH TLS) on the server, or use the mechanism it supports.",
        side=_S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        335,
        "Security data is acceptable; more is required.",
        "The security data exchange (ADAT) continues (RFC 2228; not used with TLS).",
    ),
    _Reply(
        336,
        "Username okay, need password; challenge follows.",
        "The user name was accepted; the password must answer a challenge (RFC 2228).",
    ),
    _Reply(
        350,
        "Requested file action pending further information.",
        "The server waits for the next command (e.g. RNTO after RNFR).",
    ),
    _Reply(
        421,
        "Service not available, closing control connection.",
        "The server refuses the session and closes the control connection.",
        causes=(
            "Too many connections, a per-address limit, an idle timeout or a shutdown.",
            "FTPS: proftpd answers '421 TLS handshake failed' in plain text after a failed "
            "TLS 1.2 handshake; pure-ftpd uses 421 to refuse plain-text sessions when TLS is "
            "required.",
        ),
        remedy=(
            "Read the reply text: fix the TLS problem it names, use TLS when the server "
            "requires it, or check the server's connection limits."
        ),
        side=_S,
        finding_id="ftp_service_unavailable",
    ),
    _Reply(
        425,
        "Can't open data connection.",
        "The server could not open or accept the data connection.",
        causes=(
            "A firewall blocks the passive port range or the active-mode connection back.",
            "FTPS: proftpd ('Operation not permitted') and FileZilla Server ('TLS session of "
            "data connection not resumed') use 425 when TLS session reuse was required. " + _REUSE,
        ),
        remedy="Open the passive port range in the firewalls; for the FTPS reuse case: "
        + _REUSE_FIX,
        finding_id="ftp_data_connection_failed",
    ),
    _Reply(
        426,
        "Connection closed; transfer aborted.",
        "The data connection broke during the transfer.",
        causes=(
            "A network or firewall interruption.",
            "FTPS: the TLS session on the data connection failed or ended uncleanly.",
        ),
        remedy="Retry; check firewalls and timeouts, and the TLS log of the server.",
        finding_id="ftp_data_connection_failed",
    ),
    _Reply(
        431,
        "Need some unavailable resource to process security.",
        "The server cannot start TLS at the moment.",
        causes=("The server's certificate or key cannot be loaded, or its TLS setup is broken.",),
        remedy=(
            "Check the server's TLS configuration and log (certificate and key files, permissions)."
        ),
        side=_S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        450,
        "Requested file action not taken. File unavailable.",
        "The file is temporarily unavailable (busy or locked).",
        remedy="Try again later.",
        side=_S,
    ),
    _Reply(
        451,
        "Requested action aborted: local error in processing.",
        "The server hit an error while processing the command.",
        remedy="Check the server's log; try again.",
        side=_S,
    ),
    _Reply(
        452,
        "Requested action not taken. Insufficient storage space in system.",
        "The server is short of disk space.",
        remedy="Free space on the server.",
        side=_S,
    ),
    _Reply(
        500,
        "Syntax error, command unrecognized.",
        "The server does not know the command.",
        causes=(
            "FTPS: an answer to AUTH TLS means the server has no TLS (pure-ftpd without TLS: "
            "'500 This security scheme is not implemented').",
            "An answer to CCC means the server cannot clear the control channel (vsftpd).",
            "vsftpd sends '500 OOPS: … peer did not return a certificate' in plain text when "
            "it required a client certificate and got none.",
        ),
        remedy="Enable TLS on the server (vsftpd ssl_enable=YES, proftpd TLSEngine on, pure-ftpd "
        "-Y 1 or higher), or read the reply text for the specific problem.",
        side=_S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        501,
        "Syntax error in parameters or arguments.",
        "The command's arguments are malformed.",
        remedy="Correct the command's arguments.",
        side=_C,
    ),
    _Reply(
        502,
        "Command not implemented.",
        "The server does not implement the command.",
        causes=("FTPS: an answer to AUTH, PBSZ or PROT means the server does not offer FTPS.",),
        remedy="Enable TLS on the server.",
        side=_S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        503,
        "Bad sequence of commands.",
        "The command came in the wrong order.",
        causes=(
            "FTPS: PBSZ or PROT before a successful AUTH TLS, or PROT before PBSZ "
            "(pure-ftpd insists on PBSZ first).",
        ),
        remedy="Send AUTH TLS, then log in, then PBSZ 0, then PROT P.",
        side=_C,
        finding_id="ftp_bad_sequence",
    ),
    _Reply(
        504,
        "Command not implemented for that parameter.",
        "The server knows the command but not this parameter.",
        causes=(
            "FTPS: AUTH with a mechanism the server does not support ('504 Unknown AUTH "
            "type'), or a PROT level it does not know.",
        ),
        remedy=(
            "Use AUTH TLS and PROT P or C; if AUTH TLS itself gets 504, enable TLS on the server."
        ),
        side=_S,
        finding_id="ftps_no_tls",
    ),
    _Reply(
        521,
        "Data connection cannot be opened with this PROT setting.",
        "The data channel's protection level does not fit the server's policy (RFC 4217).",
        causes=("Usually PROT C (clear data) while the server requires PROT P.",),
        remedy="Use PROT P (after PBSZ 0) before any transfer.",
        finding_id="ftps_data_protection_refused",
    ),
    _Reply(
        522,
        "TLS negotiation failed or was unacceptable on the data connection.",
        "The TLS handshake on the data connection failed or was not acceptable (RFC 4217).",
        causes=(
            "vsftpd: '522 SSL connection failed: session reuse required', after which it "
            "closes the control connection. " + _REUSE,
            "The data connection is in clear text while the server requires encryption "
            "('522 Data connections must be encrypted', '522 SSL/TLS required on the data "
            "channel').",
            "Outside FTPS (RFC 2428): EPRT with a network protocol the server does not support.",
        ),
        remedy="Use PROT P for data connections. " + _REUSE_FIX,
        finding_id="ftps_data_tls_failed",
    ),
    _Reply(
        530,
        "Not logged in.",
        "The server refused the login, or wants one first.",
        causes=(
            "A wrong user name or password, or anonymous login is disabled.",
            "FTPS: vsftpd with TLS switched off answers AUTH TLS with '530 Please login with "
            "USER and PASS'; vsftpd requiring TLS answers a plain-text USER with '530 … "
            "sessions must use encryption'.",
        ),
        remedy="Check the credentials; if the reply answers AUTH TLS, TLS is not enabled on the "
        "server; if it asks for encryption, use ftpes:// or ftps://.",
        side=_E,
        finding_id="ftp_login_refused",
    ),
    _Reply(
        532,
        "Need account for storing files.",
        "Storing files needs an account (ACCT).",
        remedy="Send the account information the server expects.",
        side=_C,
    ),
    _Reply(
        533,
        "Command protection level denied for policy reasons.",
        "The server refuses the command at this protection level (RFC 2228).",
        causes=("FTPS: CCC (clear command channel) was sent without protection.",),
        remedy="Send CCC only over the TLS-protected control connection.",
        side=_C,
        finding_id="ftps_policy_refused",
    ),
    _Reply(
        534,
        "Request denied for policy reasons.",
        "The server's security policy forbids the request (RFC 2228).",
        causes=(
            "FTPS: the server refuses AUTH, a PROT level (proftpd answers PROT C with 534 "
            "when TLS is required) or CCC.",
        ),
        remedy="Use the protection the server requires (AUTH TLS, PROT P), or change its policy.",
        finding_id="ftps_policy_refused",
    ),
    _Reply(
        535,
        "Failed security check.",
        "A protected command failed its integrity check (RFC 2228).",
        causes=("Used by GSSAPI-style mechanisms; with TLS it points to a broken implementation.",),
        remedy="Check the server's security log; reconnect.",
        finding_id="ftps_security_check_failed",
    ),
    _Reply(
        536,
        "Requested PROT level not supported by mechanism.",
        "The server does not support that data protection level with this mechanism.",
        causes=(
            "FTPS: PROT S or PROT E, which have no meaning with TLS.",
            "A server that does not offer protected data connections at all.",
        ),
        remedy=(
            "Use PROT P (or C); if PROT P itself is refused, enable data encryption on the server."
        ),
        finding_id="ftps_prot_p_refused",
    ),
    _Reply(
        537,
        "Command protection level not supported by security mechanism.",
        "The mechanism does not support this command protection level (RFC 2228).",
        causes=("Not used with TLS.",),
        remedy="Use AUTH TLS.",
        finding_id="ftps_policy_refused",
    ),
    _Reply(
        550,
        "Requested action not taken. File unavailable.",
        "The file or directory is unavailable (not found, no access).",
        causes=(
            "FTPS: proftpd answers '550 SSL/TLS required on the control channel' when TLS "
            "is required and the client has not sent AUTH TLS.",
        ),
        remedy="Check the path and permissions; if the reply asks for TLS, use ftpes:// or ftps://.",
    ),
    _Reply(
        551,
        "Requested action aborted: page type unknown.",
        "The server does not know the page type.",
        remedy="Correct the command.",
        side=_C,
    ),
    _Reply(
        552,
        "Requested file action aborted. Exceeded storage allocation.",
        "The storage quota is exceeded.",
        remedy="Free space or raise the quota.",
        side=_S,
    ),
    _Reply(
        553,
        "Requested action not taken. File name not allowed.",
        "The file name is not allowed.",
        remedy="Use another file name.",
        side=_C,
    ),
    _Reply(
        631,
        "Integrity protected reply.",
        "A reply protected by the security mechanism (RFC 2228).",
        causes=("TLS never sends this; the server negotiated another mechanism.",),
    ),
    _Reply(
        632,
        "Confidentiality and integrity protected reply.",
        "A reply protected by the security mechanism (RFC 2228).",
        causes=("TLS never sends this; the server negotiated another mechanism.",),
    ),
    _Reply(
        633,
        "Confidentiality protected reply.",
        "A reply protected by the security mechanism (RFC 2228).",
        causes=("TLS never sends this; the server negotiated another mechanism.",),
    ),
)
_FTP = {reply.code: reply for reply in _FTP_ROWS}

# first digit: class finding id, severity, description
_FTP_CLASSES = {
    1: (_FTP_POSITIVE, _INFO, "a positive preliminary reply: the action is starting"),
    2: (_FTP_POSITIVE, _INFO, "a positive completion reply: the action succeeded"),
    3: (_FTP_POSITIVE, _INFO, "a positive intermediate reply: more input is needed"),
    4: (
        _FTP_TRANSIENT,
        _ERROR,
        "a transient negative reply: the action failed, a retry may succeed",
    ),
    5: (_FTP_PERMANENT, _ERROR, "a permanent negative reply: the action failed"),
    6: (_FTP_PROTECTED, _INFO, "a protected reply of an RFC 2228 security mechanism"),
}
# Positive replies that still mean trouble for FTPS.
_FTP_SEVERITY = {120: _WARNING, 334: _ERROR}


def ftp_reply(code: int) -> Explanation:
    """What an FTP reply code means, with its FTPS reading; generic by first digit if unknown."""
    reply = _FTP.get(code)
    if reply is not None:
        class_id, severity, _ = _FTP_CLASSES[code // 100]
        return Explanation(
            kind="ftp",
            key=f"ftp:{code}",
            title=f"FTP reply {code}",
            reason=reply.text,
            summary=reply.summary,
            causes=reply.causes,
            remedy=reply.remedy,
            side=reply.side,
            severity=_FTP_SEVERITY.get(code, severity),
            finding_id=reply.finding_id or class_id,
        )
    klass = _FTP_CLASSES.get(code // 100) if 100 <= code <= 699 else None
    if klass is None:
        return Explanation(
            kind="ftp",
            key=f"ftp:{code}",
            title=f"FTP reply {code}",
            reason="not an FTP reply code",
            summary=f"{code} is not a valid FTP reply code (they run from 100 to 699).",
            causes=("The peer is not an FTP server, or the reply was garbled.",),
            remedy="Check that the port belongs to an FTP server.",
            side=_E,
            severity=_ERROR,
            finding_id="ftp_reply_invalid",
        )
    class_id, severity, description = klass
    return Explanation(
        kind="ftp",
        key=f"ftp:{code}",
        title=f"FTP reply {code}",
        reason=f"reply class {code // 100}xx",
        summary=f"An FTP reply code the standards do not define; it is {description}.",
        causes=("A server-specific reply; its text says more.",),
        remedy="Read the reply text and the server's documentation.",
        side=_E,
        severity=severity,
        finding_id=class_id,
    )


# -- explain ----------------------------------------------------------------------------

_NUMBERED = re.compile(r"^(alert|ftp)\s*:\s*(\S+)$")
_DIGITS = re.compile(r"[0-9]+")
# "verify error:num=20:…" (s_client) and "error 20 at 0 depth lookup: …" (openssl verify)
_VERIFY_IN_LOG = re.compile(r"num=([0-9]{1,3})\b|error ([0-9]{1,3}) at [0-9]+ depth")


def _name(query: str) -> str:
    return re.sub(r"[\s-]+", "_", query.strip().lower())


def explain(query: str) -> Explanation | None:
    """Explain a verify code, ``alert:N`` or alert name, ``ftp:NNN``, reason text or failure kind.

    Reason texts are explained from the client side.  ``None`` when nothing matches.
    """
    try:
        return _explain(str(query).strip())
    except ValueError:  # a number too long for int()
        return None


def _explain(query: str) -> Explanation | None:
    if not query:
        return None
    if _DIGITS.fullmatch(query):
        return VERIFY_CODES.get(int(query))
    macro = _name(query).upper().removeprefix("X509_V_ERR_").removeprefix("X509_V_")
    if macro in _MACROS:
        return VERIFY_CODES[_MACROS[macro]]
    numbered = _NUMBERED.match(query.lower())
    if numbered is not None:
        what, value = numbered.groups()
        if what == "ftp":
            return ftp_reply(int(value)) if _DIGITS.fullmatch(value) else None
        if _DIGITS.fullmatch(value):
            return alert(int(value)) if int(value) <= 255 else None
        number = _ALERT_NAMES.get(_name(value))
        return alert(number) if number is not None else None
    name = _name(query)
    if name in _ALERT_NAMES:
        return alert(_ALERT_NAMES[name])
    if name in _CONNECTIONS:
        return connection_error(name)
    return _verify_text(query.lower()) or _classify(query, _C)


def _verify_text(text: str) -> Explanation | None:
    """A verify code named by its text or by a log line such as ``verify error:num=20:…``."""
    text = " ".join(text.split())
    if text in _VERIFY_TEXTS:
        return VERIFY_CODES[_VERIFY_TEXTS[text]]
    logged = _VERIFY_IN_LOG.search(text)
    if logged is not None:
        return VERIFY_CODES.get(int(logged.group(1) or logged.group(2)))
    return None


# -- rendering and ids ------------------------------------------------------------------


def catalogue_ids() -> frozenset[str]:
    """Every finding id an entry of this catalogue can carry."""
    ids = {entry.finding_id for entry in VERIFY_CODES.values()}
    ids.add(_UNKNOWN_VERIFY_ID)
    for entry in _ALERTS.values():
        ids.add(f"tls_alert_{entry.name}")
        ids.update(_alert_view(entry, side).finding_id for side in (_C, _S))
    ids.add("tls_alert_unknown")
    for reason in _REASONS:
        ids.add(reason.client.finding_id)
        if reason.server is not None:
            ids.add(reason.server.finding_id)
    ids.add("handshake_failed")
    ids.update(_CONNECTIONS)
    ids.update(reply.finding_id for reply in _FTP_ROWS if reply.finding_id)
    ids.update(class_id for class_id, _, _ in _FTP_CLASSES.values())
    ids.add("ftp_reply_invalid")
    return frozenset(ids)
