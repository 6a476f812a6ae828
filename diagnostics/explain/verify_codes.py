# -*- test-case-name: tests.explain.test_catalogue -*-
"""The certificate verification codes: every ``X509_V_ERR_*`` code of the linked OpenSSL.

Pure data: one entry for each verify code of OpenSSL 4.0.3 with its macro name,
OpenSSL's text, plain words, likely causes, who has to act and the fix
(:data:`VERIFY_CODES`), the lookup of a code (:func:`verify_code`, a generic entry for
an unknown one) and of its macro name (:func:`verify_name`).

The entries are written for a client judging a server's certificate: ``server``
there means the party that presents the certificate.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping

from diagnostics.explain.entries import ERROR, INFO, OPENSSL, WARNING, C, E, S, VerifyCode
from diagnostics.model.result import Side

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
        E,
        "verify_ok",
        "ok",
        "The certificate passed verification.",
        (),
        "Nothing to do.",
    ),
    (
        1,
        "UNSPECIFIED",
        C,
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
        E,
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
        C,
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
        S,
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
        C,
        "",
        "unable to decrypt CRL's signature",
        "The signature on a CRL could not be decoded with its issuer's public key.",
        ("The CRL file is damaged, or something else (an HTML error page) was saved as CRL.",),
        "Download the CRL again from the CA.",
    ),
    (
        6,
        "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
        E,
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
        S,
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
        C,
        "crl_signature_failure",
        "CRL signature failure",
        "A CRL's signature does not match its issuer's key.",
        ("The CRL was published by another CA, or by the same CA with a newer key.",),
        "Use the CRL published by the CA that issued the certificate.",
    ),
    (
        9,
        "CERT_NOT_YET_VALID",
        C,
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
        S,
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
        C,
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
        C,
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
        S,
        "",
        "format error in certificate's notBefore field",
        "The certificate's start date is badly encoded.",
        ("The CA software wrote an invalid date.",),
        _REISSUE_CA_TOOL,
    ),
    (
        14,
        "ERROR_IN_CERT_NOT_AFTER_FIELD",
        S,
        "",
        "format error in certificate's notAfter field",
        "The certificate's expiry date is badly encoded.",
        ("The CA software wrote an invalid date.",),
        _REISSUE_CA_TOOL,
    ),
    (
        15,
        "ERROR_IN_CRL_LAST_UPDATE_FIELD",
        C,
        "",
        "format error in CRL's lastUpdate field",
        "The CRL's issue date is badly encoded.",
        ("The CA software wrote an invalid date into the CRL.",),
        _CRL_FROM_CA,
    ),
    (
        16,
        "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
        C,
        "",
        "format error in CRL's nextUpdate field",
        "The CRL's next-update date is badly encoded.",
        ("The CA software wrote an invalid date into the CRL.",),
        _CRL_FROM_CA,
    ),
    (
        17,
        "OUT_OF_MEM",
        C,
        "",
        "out of memory",
        "OpenSSL ran out of memory while verifying.",
        ("The verifying machine or process is short of memory.",),
        "Check the resources of the verifying machine; report a bug if it repeats.",
    ),
    (
        18,
        "DEPTH_ZERO_SELF_SIGNED_CERT",
        S,
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
        C,
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
        E,
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
        S,
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
        E,
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
        S,
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
        S,
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
        S,
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
        S,
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
        C,
        "",
        "certificate not trusted",
        "The root is in the trust store but marked as not trusted for this purpose.",
        ("OpenSSL trust settings on the root exclude server or client authentication.",),
        "Adjust the trust settings of that root in the verifying side's store.",
    ),
    (
        28,
        "CERT_REJECTED",
        C,
        "",
        "certificate rejected",
        "The root is explicitly marked as rejected for this purpose in the trust store.",
        ("A reject setting was added to the root in the trust store.",),
        "Remove the reject setting if the root should be trusted.",
    ),
    (
        29,
        "SUBJECT_ISSUER_MISMATCH",
        S,
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
        S,
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
        S,
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
        S,
        "",
        "key usage does not include certificate signing",
        "A CA certificate that signed another certificate lacks the keyCertSign key usage.",
        ("A home-made CA was created without the usual CA extensions.",),
        "Reissue the CA certificate with CA:TRUE and key usage keyCertSign (and cRLSign).",
    ),
    (
        33,
        "UNABLE_TO_GET_CRL_ISSUER",
        C,
        "",
        "unable to get CRL issuer certificate",
        "The certificate of the CA that signed the CRL could not be found.",
        ("An indirect CRL is signed by a separate CRL issuer that is not in the store.",),
        "Add the CRL issuer's certificate to the verifying side's trust material.",
    ),
    (
        34,
        "UNHANDLED_CRITICAL_EXTENSION",
        S,
        "",
        "unhandled critical extension",
        "The certificate has an extension marked critical that OpenSSL does not understand.",
        ("Proprietary or government PKI extensions marked critical.",),
        "Reissue the certificate without marking that extension critical.",
    ),
    (
        35,
        "KEYUSAGE_NO_CRL_SIGN",
        S,
        "",
        "key usage does not include CRL signing",
        "The certificate that signed the CRL lacks the cRLSign key usage.",
        ("The CA signs CRLs with a certificate not meant for it.",),
        "The CA must sign its CRLs with a certificate that has the cRLSign key usage.",
    ),
    (
        36,
        "UNHANDLED_CRITICAL_CRL_EXTENSION",
        S,
        "crl_unhandled_critical_extension",
        "unhandled critical CRL extension",
        "The CRL has an extension marked critical that OpenSSL does not understand.",
        ("The CA writes proprietary critical extensions into its CRLs.",),
        "Have the CA publish CRLs without unknown critical extensions.",
    ),
    (
        37,
        "INVALID_NON_CA",
        S,
        "",
        "invalid non-CA certificate (has CA markings)",
        "An end-entity certificate carries markings reserved for CAs.",
        ("The certificate has keyCertSign but is not a CA (no CA:TRUE).",),
        _REISSUE_CA_TOOL,
    ),
    (
        38,
        "PROXY_PATH_LENGTH_EXCEEDED",
        E,
        "",
        "proxy path length constraint exceeded",
        "A chain of proxy certificates is longer than allowed.",
        _PROXY,
        "Use a shorter chain of proxy certificates, or ordinary certificates.",
    ),
    (
        39,
        "KEYUSAGE_NO_DIGITAL_SIGNATURE",
        S,
        "",
        "key usage does not include digital signature",
        "The certificate's key usage lacks digitalSignature, which this use requires.",
        ("The certificate was issued with a key usage list for another purpose.",),
        "Reissue the certificate with the digitalSignature key usage.",
    ),
    (
        40,
        "PROXY_CERTIFICATES_NOT_ALLOWED",
        E,
        "",
        "proxy certificates not allowed, please set the appropriate flag",
        "A proxy certificate was presented, but proxy certificates are not enabled.",
        _PROXY,
        "Present an ordinary certificate.",
    ),
    (
        41,
        "INVALID_EXTENSION",
        S,
        "",
        "invalid or inconsistent certificate extension",
        "A certificate extension is malformed or contradicts another one.",
        ("Bad basic constraints or key usage encoding, or a duplicated extension.",),
        _REISSUE_CA_TOOL,
    ),
    (
        42,
        "INVALID_POLICY_EXTENSION",
        S,
        "",
        "invalid or inconsistent certificate policy extension",
        "The certificate policies extension is malformed or inconsistent.",
        ("The CA wrote a broken policy extension.",),
        _REISSUE_CA_TOOL,
    ),
    (
        43,
        "NO_EXPLICIT_POLICY",
        E,
        "",
        "no explicit policy",
        "An explicit certificate policy is required, but the chain carries no valid one.",
        ("The verifier or a CA's policy constraints demand a policy the chain lacks.",),
        "Issue from a CA with the required policy, or relax the verifier's policy settings.",
    ),
    (
        44,
        "DIFFERENT_CRL_SCOPE",
        E,
        "",
        "different CRL scope",
        "The CRL found does not cover this certificate.",
        ("The CA uses partitioned or delta CRLs and the matching one is not loaded.",),
        "Load the CRL whose scope covers the certificate (see its CRL distribution point).",
    ),
    (
        45,
        "UNSUPPORTED_EXTENSION_FEATURE",
        E,
        "",
        "unsupported extension feature",
        "A certificate or CRL uses a feature OpenSSL does not implement.",
        ("Indirect CRLs or similar rarely used features.",),
        "Use plain CRLs from the issuing CA, or a CA without such features.",
    ),
    (
        46,
        "UNNESTED_RESOURCE",
        E,
        "",
        "RFC 3779 resource not subset of parent's resources",
        "An IP address or AS number resource is not contained in the issuer's resources.",
        ("Only relevant for RPKI (routing) certificates.",),
        "Fix the resources in the RPKI certificate.",
    ),
    (
        47,
        "PERMITTED_VIOLATION",
        S,
        "",
        "permitted subtree violation",
        "A name in the certificate lies outside what its CA is permitted to certify.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        48,
        "EXCLUDED_VIOLATION",
        S,
        "",
        "excluded subtree violation",
        "A name in the certificate lies in a space its CA is forbidden to certify.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        49,
        "SUBTREE_MINMAX",
        S,
        "",
        "name constraints minimum and maximum not supported",
        "A CA's name constraints use minimum/maximum fields that OpenSSL does not support.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        50,
        "APPLICATION_VERIFICATION",
        C,
        "",
        "application verification failure",
        "The verifying program's own check rejected the certificate.",
        ("A pinning or policy hook of the verifying program, not one of OpenSSL's checks.",),
        "See the verifying program's log and configuration for the rule that failed.",
    ),
    (
        51,
        "UNSUPPORTED_CONSTRAINT_TYPE",
        S,
        "",
        "unsupported name constraint type",
        "A CA's name constraint is of a type OpenSSL cannot evaluate.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        52,
        "UNSUPPORTED_CONSTRAINT_SYNTAX",
        S,
        "",
        "unsupported or invalid name constraint syntax",
        "A CA's name constraint is written in a syntax OpenSSL cannot evaluate.",
        _CONSTRAINTS,
        _CONSTRAINTS_FIX,
    ),
    (
        53,
        "UNSUPPORTED_NAME_SYNTAX",
        S,
        "",
        "unsupported or invalid name syntax",
        "A name in the certificate cannot be parsed for the name-constraint check.",
        ("An unusually encoded subject or alternative name under a constrained CA.",),
        "Reissue the certificate with plainly encoded names.",
    ),
    (
        54,
        "CRL_PATH_VALIDATION_ERROR",
        E,
        "",
        "CRL path validation error",
        "The chain of the CRL's own signer could not be verified.",
        ("The CRL is signed by a certificate that does not chain to a trusted root.",),
        "Add the CRL signer's chain to the verifying side, or use the CA's own CRL.",
    ),
    (
        55,
        "PATH_LOOP",
        S,
        "",
        "path loop",
        "Building the chain ran into a loop.",
        ("Cross-certificates that point at each other.",),
        "Serve a simple chain ending at one root; remove the looping cross-certificates.",
    ),
    (
        56,
        "SUITE_B_INVALID_VERSION",
        E,
        "",
        "Suite B: certificate version invalid",
        "Suite B check: the certificate version is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        57,
        "SUITE_B_INVALID_ALGORITHM",
        E,
        "",
        "Suite B: invalid public key algorithm",
        "Suite B check: the public key algorithm is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        58,
        "SUITE_B_INVALID_CURVE",
        E,
        "",
        "Suite B: invalid ECC curve",
        "Suite B check: the elliptic curve is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        59,
        "SUITE_B_INVALID_SIGNATURE_ALGORITHM",
        E,
        "",
        "Suite B: invalid signature algorithm",
        "Suite B check: the signature algorithm is not allowed.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        60,
        "SUITE_B_LOS_NOT_ALLOWED",
        E,
        "",
        "Suite B: curve not allowed for this LOS",
        "Suite B check: the curve is not allowed for the required level of security.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        61,
        "SUITE_B_CANNOT_SIGN_P_384_WITH_P_256",
        E,
        "",
        "Suite B: cannot sign P-384 with P-256",
        "Suite B check: a P-384 certificate was signed with a P-256 key.",
        _SUITE_B,
        _SUITE_B_FIX,
    ),
    (
        62,
        "HOSTNAME_MISMATCH",
        E,
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
        E,
        "",
        "email address mismatch",
        "The certificate does not contain the expected e-mail address.",
        ("An e-mail identity check (S/MIME style) against the wrong certificate.",),
        "Use the certificate issued for that address, or check the expected address.",
    ),
    (
        64,
        "IP_ADDRESS_MISMATCH",
        E,
        "hostname_mismatch",
        "IP address mismatch",
        "The client connected by IP address, and the certificate does not list that address.",
        ("Certificates normally name DNS host names only.",),
        "Connect by a DNS name the certificate lists, or reissue it with an IP address entry.",
    ),
    (
        65,
        "DANE_NO_MATCH",
        S,
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
        S,
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
        S,
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
        S,
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
        C,
        "",
        "invalid certificate verification context",
        "The verifying program called OpenSSL's verification wrongly.",
        ("A bug in the verifying program.",),
        "Report the bug to the maintainers of the verifying program.",
    ),
    (
        70,
        "STORE_LOOKUP",
        C,
        "",
        "issuer certificate lookup error",
        "Looking up an issuer in the trust store failed.",
        ("A broken hashed certificate directory, an unreadable store or a wrong store URI.",),
        "Check the trust store path and permissions, and rebuild its hash links (openssl rehash).",
    ),
    (
        71,
        "NO_VALID_SCTS",
        E,
        "",
        "Certificate Transparency required, but no valid SCTs found",
        "Certificate Transparency is enforced, but the certificate has no valid SCTs.",
        ("A certificate from a private CA, or one not logged to CT, under a strict CT policy.",),
        "Use a publicly logged certificate, or relax the verifier's CT policy for private CAs.",
    ),
    (
        72,
        "PROXY_SUBJECT_NAME_VIOLATION",
        E,
        "",
        "proxy subject name violation",
        "A proxy certificate's subject name breaks the proxy certificate rules.",
        _PROXY,
        "Issue the proxy certificate with a subject derived from its issuer's.",
    ),
    (
        73,
        "OCSP_VERIFY_NEEDED",
        C,
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
        S,
        "",
        "OCSP verification failed",
        "The OCSP response did not verify, or it says the certificate is not good.",
        ("A revoked certificate, or a broken OCSP response from the CA's responder.",),
        "Check the certificate's status with the CA; replace it if it is revoked.",
    ),
    (
        75,
        "OCSP_CERT_UNKNOWN",
        S,
        "",
        "OCSP unknown cert",
        "The CA's OCSP responder does not know the certificate.",
        ("The certificate is very new, or the responder belongs to another CA.",),
        "Check with the CA; if the certificate is fine, its responder must learn about it.",
    ),
    (
        76,
        "UNSUPPORTED_SIGNATURE_ALGORITHM",
        E,
        "",
        "Cannot find certificate signature algorithm",
        "The certificate's signature algorithm is unknown or unavailable here.",
        ("An exotic algorithm, or one missing from the loaded OpenSSL providers.",),
        "Load the provider for it, or reissue the certificate with a common algorithm.",
    ),
    (
        77,
        "SIGNATURE_ALGORITHM_MISMATCH",
        S,
        "",
        "subject signature algorithm and issuer public key algorithm mismatch",
        "The signature algorithm does not fit the issuer's key type.",
        ("Usually the wrong intermediate (an ECDSA signature but an RSA issuer key).",),
        "Serve the intermediate that actually issued the certificate.",
    ),
    (
        78,
        "SIGNATURE_ALGORITHM_INCONSISTENCY",
        S,
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
        S,
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
        S,
        "",
        "Path length invalid for non-CA cert",
        "A certificate that is not a CA carries a path length limit.",
        _STRICT,
        "Reissue the certificate without a path length limit.",
    ),
    (
        81,
        "PATHLEN_WITHOUT_KU_KEY_CERT_SIGN",
        S,
        "",
        "Path length given without key usage keyCertSign",
        "A certificate has a path length limit but not the keyCertSign key usage.",
        _STRICT,
        "Reissue the CA certificate with the keyCertSign key usage.",
    ),
    (
        82,
        "KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA",
        S,
        "",
        "Key usage keyCertSign invalid for non-CA cert",
        "A certificate that is not a CA has the keyCertSign key usage.",
        _STRICT,
        "Reissue the certificate without keyCertSign.",
    ),
    (
        83,
        "ISSUER_NAME_EMPTY",
        S,
        "",
        "Issuer name empty",
        "The certificate's issuer name is empty.",
        _STRICT,
        "Reissue the certificate from a CA with a proper name.",
    ),
    (
        84,
        "SUBJECT_NAME_EMPTY",
        S,
        "",
        "Subject name empty",
        "The certificate's subject is empty and no critical alternative name replaces it.",
        _STRICT,
        "Reissue the certificate with a subject, or with a critical subject alternative name.",
    ),
    (
        85,
        "MISSING_AUTHORITY_KEY_IDENTIFIER",
        S,
        "",
        "Missing Authority Key Identifier",
        "The certificate lacks the Authority Key Identifier extension.",
        _STRICT,
        "Reissue the certificate with an Authority Key Identifier.",
    ),
    (
        86,
        "MISSING_SUBJECT_KEY_IDENTIFIER",
        S,
        "",
        "Missing Subject Key Identifier",
        "A CA certificate lacks the Subject Key Identifier extension.",
        _STRICT,
        "Reissue the CA certificate with a Subject Key Identifier.",
    ),
    (
        87,
        "EMPTY_SUBJECT_ALT_NAME",
        S,
        "",
        "Empty Subject Alternative Name extension",
        "The certificate has a subject alternative name extension with no names in it.",
        _STRICT,
        "Reissue the certificate with its names in the subject alternative name extension.",
    ),
    (
        88,
        "EMPTY_SUBJECT_SAN_NOT_CRITICAL",
        S,
        "",
        "Subject empty and Subject Alt Name extension not critical",
        "The subject is empty and the subject alternative name extension is not critical.",
        _STRICT,
        "Reissue the certificate with the alternative name extension marked critical.",
    ),
    (
        89,
        "CA_BCONS_NOT_CRITICAL",
        S,
        "",
        "Basic Constraints of CA cert not marked critical",
        "A CA certificate's basic constraints extension is not marked critical.",
        _STRICT,
        "Reissue the CA certificate with critical basic constraints.",
    ),
    (
        90,
        "AUTHORITY_KEY_IDENTIFIER_CRITICAL",
        S,
        "",
        "Authority Key Identifier marked critical",
        "The Authority Key Identifier extension is marked critical, which is not allowed.",
        _STRICT,
        "Reissue the certificate with a non-critical Authority Key Identifier.",
    ),
    (
        91,
        "SUBJECT_KEY_IDENTIFIER_CRITICAL",
        S,
        "",
        "Subject Key Identifier marked critical",
        "The Subject Key Identifier extension is marked critical, which is not allowed.",
        _STRICT,
        "Reissue the certificate with a non-critical Subject Key Identifier.",
    ),
    (
        92,
        "CA_CERT_MISSING_KEY_USAGE",
        S,
        "",
        "CA cert does not include key usage extension",
        "A CA certificate has no key usage extension.",
        _STRICT,
        "Reissue the CA certificate with key usage keyCertSign and cRLSign.",
    ),
    (
        93,
        "EXTENSIONS_REQUIRE_VERSION_3",
        S,
        "",
        "Using cert extension requires at least X509v3",
        "A version 1 or 2 certificate carries extensions, which needs version 3.",
        _STRICT,
        "Reissue the certificate as version 3.",
    ),
    (
        94,
        "EC_KEY_EXPLICIT_PARAMS",
        S,
        "",
        "Certificate public key has explicit ECC parameters",
        "The certificate's EC key spells out its curve parameters instead of naming the curve.",
        _STRICT,
        "Reissue the certificate with a named curve (P-256, P-384).",
    ),
    (
        95,
        "RPK_UNTRUSTED",
        C,
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
        S,
        "",
        "OCSP response(s) invalid",
        "The OCSP response is malformed or does not fit the certificate.",
        ("The server staples a broken or unrelated OCSP response.",),
        "Fix OCSP stapling on the server or switch it off.",
    ),
    (
        97,
        "OCSP_SIGNATURE_FAILURE",
        S,
        "",
        "OCSP response signature verification failure",
        "The OCSP response's signature does not verify.",
        ("The response was signed by a responder certificate the verifier cannot check.",),
        "Fix the responder's signing certificate with the CA, or stop stapling.",
    ),
    (
        98,
        "OCSP_NOT_YET_VALID",
        E,
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
        S,
        "",
        "OCSP response has expired",
        "The OCSP response is past its next-update time.",
        ("The server staples a stale response it no longer refreshes.",),
        "Make the server refresh its stapled OCSP response (it must reach the responder).",
    ),
    (
        100,
        "OCSP_NO_RESPONSE",
        S,
        "",
        "no OCSP response available for certificate",
        "No OCSP response is available for the certificate.",
        ("The server staples nothing although the verifier requires a response.",),
        "Enable OCSP stapling on the server, or relax the verifier's OCSP requirement.",
    ),
    (
        102,
        "EMPTY_AUTHORITY_KEY_IDENTIFIER",
        S,
        "",
        "Empty Authority Key Identifier",
        "The certificate's Authority Key Identifier extension is empty.",
        ("The CA software wrote the extension without a key identifier.",),
        "Reissue the certificate with a complete Authority Key Identifier.",
    ),
    (
        103,
        "AKID_ISSUER_SERIAL_NOT_PAIRED",
        S,
        "",
        "Authority Key Identifier issuer and serial number must be paired",
        "The Authority Key Identifier has the issuer name or the serial number, not both.",
        ("The CA software wrote half of the issuer-and-serial pair.",),
        "Reissue the certificate with both issuer and serial, or with the key identifier only.",
    ),
)

# Codes that report no failure on their own.
_VERIFY_SEVERITY = {0: INFO, 29: WARNING, 30: WARNING, 31: WARNING}


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
            severity=_VERIFY_SEVERITY.get(code, ERROR),
            finding_id=finding_id or f"verify_{suffix.lower()}",
            code=code,
            macro=macro,
        )


VERIFY_CODES: Mapping[int, VerifyCode] = types.MappingProxyType(
    {entry.code: entry for entry in _verify_entries()}
)

_UNKNOWN_VERIFY_REASON = "unknown certificate verification error"
UNKNOWN_VERIFY_ID = "verify_unknown"


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
        summary=f"{OPENSSL} has no certificate verification code {code}.",
        causes=(
            "The number comes from another OpenSSL version; the numbers differ between "
            "versions (24 meant 'invalid CA certificate' before OpenSSL 3.0).",
        ),
        remedy="Look the code up for the OpenSSL version that logged it; the reason text "
        "logged next to the number is more reliable than the number.",
        side=E,
        severity=ERROR,
        finding_id=UNKNOWN_VERIFY_ID,
        code=code,
        macro=macro,
    )


def verify_name(code: int) -> str:
    """The ``X509_V_ERR_…`` macro name of a verify code (``X509_V_ERR_UNKNOWN_<n>`` if unknown)."""
    entry = VERIFY_CODES.get(code)
    return entry.macro if entry is not None else f"X509_V_ERR_UNKNOWN_{code}"
