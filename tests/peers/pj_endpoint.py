"""The pjsua2 endpoint every test phone starts with: driven from one thread by
``libHandleEvents`` (its Python bindings deadlock otherwise), null sound device,
8 kHz, UDP on a free loopback port."""

from __future__ import annotations

import pjsua2 as pj

CLOCK_RATE = 8000


def start_endpoint() -> pj.Endpoint:
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.logConfig.level = 1
    config.logConfig.consoleLevel = 1
    config.logConfig.msgLogging = 0
    config.medConfig.clockRate = CLOCK_RATE
    config.medConfig.sndClockRate = CLOCK_RATE
    config.medConfig.noVad = True
    endpoint.libInit(config)
    transport = pj.TransportConfig()
    transport.port = 0
    transport.boundAddress = "127.0.0.1"
    endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    endpoint.libStart()
    endpoint.audDevManager().setNullDev()
    return endpoint
