"""Counters and the views that show them: stats and its snapshot, the live panel, the control socket,
Prometheus, the JSON file, the pcap capture and logging. Views only read `Stats.snapshot()`."""
