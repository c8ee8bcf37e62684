"""The publish stage: the evaluated version becomes OpenShift Lightspeed's provider.

* ``olsconfig``: the merge into OLSConfig ``cluster``, pure (every other field kept), and the
  installed CRD's MCP server shape;
* ``lightspeed``: the cluster's sequence: Secret, read-merge-write with a resourceVersion
  precondition, the operator's rollout, a question to Lightspeed, the restore on failure;
* ``rollout``: whether Lightspeed took a new OLSConfig: the operator's status (what fails,
  what is only starting or beside the point) and the app server's own rollout;
* ``lease``: one publisher at a time, cluster-wide;
* ``budget``: Lightspeed's prompt budget, checked before anything is written;
* ``versions``: blue/green on the cluster: publish under the Lease, retire what it replaced;
* ``embedded``: the same merge into the embedded stack's OLSConfig file, checked against the
  real CRD and the way Lightspeed's readiness probe checks a provider;
* ``live``: whether the source's revision is live already (a scheduled run's first question);
* ``step``: the step's parameters and its two targets.
"""
