"""OpenSSL's certificate verification codes (``X509_V_ERR_*``) that tlsdiag reasons about.

Pure data, in one place: the diagnosis, the listener's verdict and the revocation outcomes
branch on these numbers; the catalogue (:mod:`diagnostics.explain.verify_codes`) explains
every code the linked OpenSSL knows.
"""

from __future__ import annotations

UNABLE_TO_GET_ISSUER_CERT = 2
UNABLE_TO_GET_CRL = 3
CRL_SIGNATURE_FAILURE = 8
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
CRL_NOT_YET_VALID = 11
CRL_HAS_EXPIRED = 12
DEPTH_ZERO_SELF_SIGNED_CERT = 18
SELF_SIGNED_CERT_IN_CHAIN = 19
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
CERT_REVOKED = 23
INVALID_PURPOSE = 26
UNHANDLED_CRITICAL_CRL_EXTENSION = 36
HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64
EE_KEY_TOO_SMALL = 66
CA_KEY_TOO_SMALL = 67
CA_MD_TOO_WEAK = 68
