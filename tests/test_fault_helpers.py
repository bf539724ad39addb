"""The fault helpers themselves: a forwarder that cuts and restores, a private cluster and Redis."""

from __future__ import annotations

import psycopg
import pytest
import redis

from hub.testing import REDIS_URL
from tests.faults import Forwarder, private_postgres, private_redis


def test_forwarder_relays_cuts_and_restores_on_the_same_port() -> None:
    target = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    with Forwarder(target) as fwd:
        client = redis.Redis.from_url(fwd.url("redis", "0"), socket_timeout=2)
        assert client.ping()
        port = fwd.port
        fwd.cut()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        fwd.restore()
        assert fwd.port == port and client.ping()
        client.close()


def test_forwarder_in_front_of_postgresql() -> None:
    with private_postgres() as cluster, Forwarder(cluster.port) as fwd:
        url = fwd.url("postgresql", "postgres", userinfo="postgres")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            fwd.cut()
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        fwd.restore()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_private_postgres_stops_and_starts() -> None:
    with private_postgres() as cluster:
        url = cluster.create_database("faults_check")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        cluster.stop()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        cluster.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_private_redis_wants_its_password() -> None:
    with private_redis(password="s3cret-pass") as server:
        good = redis.Redis.from_url(server.url())
        assert good.ping()
        good.close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(server.url(password="wrong")).ping()
