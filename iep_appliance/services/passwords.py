"""argon2id hashing for API keys and admin passwords (argon2-cffi). Blocking: callers that
run on the event loop use the async variants, which hash in a thread."""

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2id, RFC 9106 low-memory profile: ~40 ms on this machine.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(hashed: str, secret: str) -> bool:
    try:
        return _hasher.verify(hashed, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_secret_async(secret: str) -> str:
    return await asyncio.to_thread(hash_secret, secret)


async def verify_secret_async(hashed: str, secret: str) -> bool:
    return await asyncio.to_thread(verify_secret, hashed, secret)
