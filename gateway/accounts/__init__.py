"""Account directory, addresses and credentials. No Flask imports here."""
