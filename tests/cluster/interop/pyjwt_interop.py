"""PyJWT, an independent JOSE implementation, on the other side of pg_auth_keys.

  make   <dir>          : generate ES256, RS256 and EdDSA keys, write their public JWKs
                          (keys.json) and a token signed by each (tokens.json)
  sign   <dir> <claims> : generate an ES256 key, write its public JWK (keys.json) and one token
                          per claims object of the JSON list in file <claims> (tokens.json)
  verify <jwks> <tokens>: verify tokens signed by pg_auth_keys against its auth.jwks(),
                          print one JSON line per token with the verified claims
"""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def make(out):
    keys, tokens = [], []
    now = int(time.time())
    for alg, private, algorithm in [
        ("ES256", ec.generate_private_key(ec.SECP256R1()), ECAlgorithm),
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm),
    ]:
        kid = f"pyjwt-{alg.lower()}"
        jwk = json.loads(algorithm.to_jwk(private.public_key()))
        jwk.update({"kid": kid, "alg": alg, "use": "sig"})
        keys.append(jwk)
        claims = {"sub": f"sub-{alg}", "role": "authenticated", "iat": now, "exp": now + 600}
        tokens.append(jwt.encode(claims, private, algorithm=alg, headers={"kid": kid}))
    with open(f"{out}/keys.json", "w") as f:
        json.dump(keys, f)
    with open(f"{out}/tokens.json", "w") as f:
        json.dump(tokens, f)


def sign(out, claims_path):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "pyjwt-claims", "alg": "ES256", "use": "sig"})
    tokens = [jwt.encode(c, private, algorithm="ES256", headers={"kid": "pyjwt-claims"})
              for c in json.load(open(claims_path))]
    with open(f"{out}/keys.json", "w") as f:
        json.dump([jwk], f)
    with open(f"{out}/tokens.json", "w") as f:
        json.dump(tokens, f)


def verify(jwks_path, tokens_path):
    jwks = jwt.PyJWKSet.from_dict(json.load(open(jwks_path)))
    by_kid = {k.key_id: k for k in jwks.keys}
    for token in json.load(open(tokens_path)):
        header = jwt.get_unverified_header(token)
        key = by_kid[header["kid"]]
        claims = jwt.decode(token, key.key, algorithms=[header["alg"]])
        print(json.dumps({"kid": header["kid"], "alg": header["alg"], "claims": claims}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3])
    else:
        verify(sys.argv[2], sys.argv[3])
