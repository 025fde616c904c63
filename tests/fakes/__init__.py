"""Fake GitHub and Azure servers on 127.0.0.1 for the production backends' tests.

Rules: they speak the documented REST shapes so the real PyGithub and Azure SDK clients drive them;
they only ever listen on loopback; every fault they can inject is a switch a test sets explicitly.
"""
