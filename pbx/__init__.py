"""Everything Asterisk-specific: the sans-I/O AMI (`pbx.ami`) and AGI (`pbx.agi`) codecs, the AMI
client, the FastAGI server, the call tracker that turns AMI events into domain events, and the
command port that turns domain commands into AMI actions. Asterisk's spellings stop here."""
