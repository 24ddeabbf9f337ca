"""The machine's trust stores follow trustd: what trustd trusts machine-wide, projected into the
distribution's own trust stores through the distribution's own tools.

- `model`: the pure part.  From the admin domain's trust settings (API changes and drop-ins
  alike) it computes, per certificate, the purposes trustd's evaluation would anchor it for and
  the purposes it denies, exactly as evaluation decides them for a certificate above the leaf.
- `debian`, `fedora`: the outputs.  Each writes the projection as source files of the
  distribution's tool (update-ca-certificates, update-ca-trust) and runs that tool, so that the
  bundle, the hashed directory, Java's cacerts and the other extracted stores are rebuilt by
  the program that owns them.
- `live`: the background thread of the system daemon: debounced, run only when the files on
  disk differ from the projection, retried with back-off on failure, reported in Status.

System anchors are not projected: they are already in the distribution's store.  What the
projection adds (certificates the administrator trusts) and removes (system roots the
administrator denies) are both computed from trustd's own database, never from the bundle the
tool rebuilds, so a rebuilt bundle cannot feed back into the next projection.
"""
