from hub.hookspecs import hookimpl


@hookimpl
def hub_register_health_checks(hub):
    def exploding_check():
        raise ConnectionError("health endpoint unreachable")

    return [exploding_check]
