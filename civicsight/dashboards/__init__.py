"""Grafana dashboards as code: the *Operations* dashboard (Prometheus) and the *Traffic*
dashboards (the hub's API through Infinity; Elasticsearch), written with
grafana-foundation-sdk's typed builders, built to JSON under the checkout's top-level
``dashboards/`` (``civicsight dashboards build``) and uploaded with grafana-client
(``civicsight dashboards push``). A layer above the kernel, run by the command line as a
tool."""
