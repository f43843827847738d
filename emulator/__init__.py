"""The Asterisk emulator: an AMI server, a dialplan interpreter for `asterisk_conf/extensions.conf`,
a FastAGI client, simulated callers, agents and trunks. A test and demo substrate; never imported
by production code (only the CLI's `emulator` and `demo` commands load it)."""
