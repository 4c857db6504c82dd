"""The one error the demo stops on."""


class DemoError(Exception):
    """The demo cannot go on: a server does not answer, or something did not happen in time."""
