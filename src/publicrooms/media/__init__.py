"""The embedded SFU: media workers own rooms; up tracks fan out to down tracks."""
