"""``hub-woocommerce-sim``: run the simulator as a standalone server."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
from collections.abc import Sequence

from .server import bind, serve_forever
from .state import SimulatedStore


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hub-woocommerce-sim",
        description="Simulated WooCommerce 10.0.2 store (REST API wc/v3) for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port (default 8900; 0 = any free)")
    parser.add_argument("--products", type=int, default=0, help="seed N demo products")
    parser.add_argument("--consumer-key", help="API consumer key (default: generated)")
    parser.add_argument("--consumer-secret", help="API consumer secret (default: generated)")
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="behave like a store on plain http: ignore Basic auth, require OAuth 1.0a signatures",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (faults, demo data)")
    parser.add_argument("--gmt-offset-hours", type=float, default=0.0, help="store timezone")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument(
        "--per-item-latency-ms", type=float, default=0.0, help="added per batch operation"
    )
    parser.add_argument(
        "--realistic-latency",
        action="store_true",
        help="latency like the recorded store (55 ms per request, 45 ms per batch item)",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 500/502/503s")
    parser.add_argument(
        "--retry-after-503-rate", type=float, default=0.0, help="share of 503s with Retry-After"
    )
    parser.add_argument(
        "--rate-limit-rate", type=float, default=0.0, help="share of 429s with Retry-After"
    )
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds")
    parser.add_argument(
        "--rate-limit-burst", type=int, default=0, help="the first N requests get 429"
    )
    parser.add_argument(
        "--timeout-after-apply-rate",
        type=float,
        default=0.0,
        help="share of writes that are applied but then hang (client sees a timeout)",
    )
    parser.add_argument(
        "--hang-seconds", type=float, default=30.0, help="how long such a write hangs"
    )
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share of connection resets")
    parser.add_argument("--maintenance", action="store_true", help="WordPress maintenance mode")
    parser.add_argument("--rest-disabled", action="store_true", help="404 on /wp-json")
    parser.add_argument("--read-only", action="store_true", help="the key may only read")
    parser.add_argument(
        "--tier-pricing",
        action="store_true",
        help='the "Tiered Pricing Table" extension is active (its REST product fields)',
    )
    parser.add_argument(
        "--webhook-delay-ms", type=float, default=500.0, help="delay before each webhook delivery"
    )
    return parser.parse_args(argv)


def build_store(args: argparse.Namespace) -> SimulatedStore:
    key = args.consumer_key or f"ck_{secrets.token_hex(20)}"
    secret = args.consumer_secret or f"cs_{secrets.token_hex(20)}"
    store = SimulatedStore(
        consumer_key=key,
        consumer_secret=secret,
        plain_http=args.plain_http,
        seed=args.seed,
        gmt_offset=int(args.gmt_offset_hours * 3600),
        tier_pricing=args.tier_pricing,
    )
    faults = store.faults
    faults.latency_ms = 55.0 if args.realistic_latency else args.latency_ms
    faults.per_item_latency_ms = 45.0 if args.realistic_latency else args.per_item_latency_ms
    faults.error_rate = args.error_rate
    faults.retry_after_503_rate = args.retry_after_503_rate
    faults.rate_limit_rate = args.rate_limit_rate
    faults.retry_after = args.retry_after
    faults.timeout_after_apply_rate = args.timeout_after_apply_rate
    faults.hang_seconds = args.hang_seconds
    faults.reset_rate = args.reset_rate
    faults.maintenance = args.maintenance
    faults.rest_disabled = args.rest_disabled
    faults.read_only = args.read_only
    if args.rate_limit_burst:
        faults.rate_limit(args.rate_limit_burst, args.retry_after)
    store.webhook_delay = args.webhook_delay_ms / 1000
    if args.products:
        store.seed_products(args.products)
    return store


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    store = build_store(args)
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    scheme_note = " (plain http: OAuth 1.0a only)" if args.plain_http else ""
    print(f"WooCommerce simulator on http://{args.host}:{port}/wp-json/wc/v3{scheme_note}")
    print(f"consumer key:    {store.consumer_key}")
    print(f"consumer secret: {store.consumer_secret}")
    print(f"products:        {args.products}")
    print("admin API:       /__sim/state, /__sim/reset, /__sim/faults, /__sim/orders, /__sim/stock")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(store, sock)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
