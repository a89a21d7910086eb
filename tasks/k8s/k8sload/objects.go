// Package k8sload is the coordinator of `mage k8s:load`: it runs an
// Indexed Job of generator pods (cmd/loadgen -k8sjob), each taking its
// share of the load (loadjob.Split), starts them at one agreed time, shows
// their merged progress, and merges their published results exactly
// (load.Merge) into one results file. Ctrl+C or SIGTERM deletes the Job,
// its pods and the maps, and keeps what the pods had measured.
package k8sload

import (
	"fmt"
	"strconv"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/loadjob"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels of every object a run creates.
const (
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelComponent = "app.kubernetes.io/component"
	LabelJob       = "llm-observability-pack/load-job"
	PartOf         = "llm-observability-pack"
	Component      = "load-generator"
)

// Spec is what the objects of one run are made from.
type Spec struct {
	Name      string // the Job's name, also of its ServiceAccount, Role, RoleBinding and maps
	Namespace string
	Pods      int
	Image     string
	// Args are the generator's flags for the whole load (as load:* takes
	// them); the Job adds -k8sjob, -workers, -out= and -metrics.
	Args []string
	// CPU is each pod's CPU request and limit, e.g. "2" (the validity
	// checks judge the generator on the cores it is given); "" for none.
	CPU string
	// APIKeySecret names a Secret whose key "api-key" becomes
	// LOADGEN_API_KEY in the pods ("": none).
	APIKeySecret string
}

func (s Spec) labels() map[string]string {
	return map[string]string{LabelPartOf: PartOf, LabelComponent: Component, LabelJob: s.Name}
}

func (s Spec) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: s.labels()}
}

// mapNames are the control map and every worker's map.
func (s Spec) mapNames() []string {
	names := []string{loadjob.ControlName(s.Name)}
	for i := 0; i < s.Pods; i++ {
		names = append(names, loadjob.WorkerName(s.Name, i))
	}
	return names
}

// ServiceAccount is the pods' identity.
func (s Spec) ServiceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: s.meta(s.Name)}
}

// Role lets the pods read the control map and read and patch the workers'
// maps, by name, and nothing else.
func (s Spec) Role() *rbacv1.Role {
	names := s.mapNames()
	return &rbacv1.Role{ObjectMeta: s.meta(s.Name), Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}, ResourceNames: names[:1]},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "patch"}, ResourceNames: names[1:]},
	}}
}

// RoleBinding binds Role to ServiceAccount.
func (s Spec) RoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: s.meta(s.Name),
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: s.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: s.Name, Namespace: s.Namespace}}}
}

// ConfigMaps are the run's maps, empty, owned by job (so that the Job's
// deletion by its TTL collects them).
func (s Spec) ConfigMaps(job *batchv1.Job) []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	for _, n := range s.mapNames() {
		cm := &corev1.ConfigMap{ObjectMeta: s.meta(n), Data: map[string]string{}}
		if job != nil && job.UID != "" {
			t := true
			cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: &t}}
		}
		out = append(out, cm)
	}
	return out
}

// JobTTL is how long a finished Job (with its pods' logs) stays.
const JobTTL = 3600

// Job is the Indexed Job of s.Pods generator pods, all running at once,
// none retried (a retried pod would send its share twice).
func (s Spec) Job() *batchv1.Job {
	pods := int32(s.Pods)
	zero, ttl := int32(0), int32(JobTTL)
	mode := batchv1.IndexedCompletion
	t, f := true, false
	uid := int64(65532)
	args := append(append([]string(nil), s.Args...), "-k8sjob="+s.Name, "-workers="+strconv.Itoa(s.Pods), "-out=", "-metrics=off")
	c := corev1.Container{
		Name: "loadgen", Image: s.Image, Args: args, ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &t, RunAsUser: &uid, ReadOnlyRootFilesystem: &t,
			AllowPrivilegeEscalation: &f, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	if q, err := resource.ParseQuantity(s.CPU); err == nil && s.CPU != "" {
		c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q},
			Limits: corev1.ResourceList{corev1.ResourceCPU: q}}
	}
	if s.APIKeySecret != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: "LOADGEN_API_KEY", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: s.APIKeySecret}, Key: "api-key"}}})
	}
	podLabels := s.labels()
	return &batchv1.Job{ObjectMeta: s.meta(s.Name), Spec: batchv1.JobSpec{
		Parallelism: &pods, Completions: &pods, CompletionMode: &mode,
		BackoffLimitPerIndex: &zero, MaxFailedIndexes: &pods, TTLSecondsAfterFinished: &ttl,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: corev1.PodSpec{
			ServiceAccountName: s.Name, RestartPolicy: corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr64(30),
			// One generator per node where the nodes allow it, so that pods
			// do not share cores.
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
					PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname",
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelJob: s.Name}}}}}}},
			Containers: []corev1.Container{c},
		}},
	}}
}

func ptr64(v int64) *int64 { return &v }

func (s Spec) validate() error {
	switch {
	case s.Name == "" || len(s.Name) > 52:
		return fmt.Errorf("k8s:load: job name %q: 1 to 52 characters (the pods' names add a suffix)", s.Name)
	case s.Pods < 1:
		return fmt.Errorf("k8s:load: -pods=%d: at least 1", s.Pods)
	case s.CPU != "" && !validQuantity(s.CPU):
		return fmt.Errorf("k8s:load: -cpu=%q: a CPU quantity like 2 or 1500m", s.CPU)
	case s.Image == "":
		return fmt.Errorf("k8s:load: -image is required: the generator image the cluster can pull (build it with mage k8s:image, push it, and pass -image=REGISTRY/loadgen:TAG)")
	}
	return nil
}

func validQuantity(v string) bool {
	_, err := resource.ParseQuantity(v)
	return err == nil
}
