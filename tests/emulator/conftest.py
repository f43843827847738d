from tests.integration.conftest import ami_probe, ami_user, emulator, make_emulator

__all__ = ["ami_probe", "ami_user", "emulator", "make_emulator"]
