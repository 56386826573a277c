"""The payload of the committed samples: EICAR between 3,000 pseudo-random letters, so every compressor here
encodes it rather than storing it as raw bytes (deterministic). `--eicar` prints the EICAR test string alone."""

import random
import sys

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

if sys.argv[1:] == ["--eicar"]:
    sys.stdout.buffer.write(EICAR)
else:
    rng = random.Random(7)
    prefix = bytes(rng.choice(b"etaoinshrdlu") for _ in range(3000))
    sys.stdout.buffer.write(prefix + EICAR + prefix[::-1])
