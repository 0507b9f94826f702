package consistency_test

// The part of the Kubernetes API the manifests in deploy/kubernetes use, field names as in
// the API (k8s.io/api). Decoding is not strict: fields not listed here are ignored.

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string
	Metadata   meta
	// Deployment, StatefulSet, Service, PodDisruptionBudget, HorizontalPodAutoscaler,
	// ScaledObject.
	Spec spec
	// ConfigMap and Secret.
	Data       map[string]string
	StringData map[string]string `yaml:"stringData"`
}

type meta struct {
	Name   string
	Labels map[string]string
}

type spec struct {
	// Deployment, StatefulSet, PodDisruptionBudget: {matchLabels: {...}}; Service: the labels.
	Selector map[string]any
	// Deployment and StatefulSet.
	Replicas *int
	Template *struct {
		Metadata meta
		Spec     podSpec
	}
	// Service.
	Type  string
	Ports []struct {
		Name       string
		Port       int
		TargetPort string `yaml:"targetPort"`
	}
	// PodDisruptionBudget.
	MinAvailable   *int `yaml:"minAvailable"`
	MaxUnavailable *int `yaml:"maxUnavailable"`
	// HorizontalPodAutoscaler.
	ScaleTargetRef *struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Name       string
	} `yaml:"scaleTargetRef"`
	MinReplicas int `yaml:"minReplicas"`
	MaxReplicas int `yaml:"maxReplicas"`
	Metrics     []struct {
		Type     string
		Resource struct {
			Name   string
			Target struct {
				Type               string
				AverageUtilization int `yaml:"averageUtilization"`
			}
		}
	}
	// KEDA ScaledObject (keda.sh/v1alpha1), with ScaleTargetRef above.
	MinReplicaCount *int `yaml:"minReplicaCount"`
	MaxReplicaCount *int `yaml:"maxReplicaCount"`
	Triggers        []struct {
		Type     string
		Metadata map[string]string
	}
}

type podSpec struct {
	TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
	SecurityContext               struct {
		RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
		RunAsUser      int   `yaml:"runAsUser"`
		RunAsGroup     int   `yaml:"runAsGroup"`
		SeccompProfile struct {
			Type string
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []k8sContainer
	Volumes    []struct {
		Name      string
		ConfigMap *struct {
			Name string
		} `yaml:"configMap"`
	}
}

type k8sContainer struct {
	Name           string
	Image          string
	Command        []string
	Args           []string
	Ports          []containerPortSpec
	Env            []envVar
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int
			}
			Exec *struct {
				Command []string
			}
		} `yaml:"preStop"`
	}
	Resources struct {
		Requests map[string]string
		Limits   map[string]string
	}
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             *struct {
			Drop []string
		}
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type containerPortSpec struct {
	Name          string
	ContainerPort int `yaml:"containerPort"`
}

type envVar struct {
	Name      string
	Value     *string
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name     string
			Key      string
			Optional bool
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string
		Port string
	} `yaml:"httpGet"`
	TimeoutSeconds int `yaml:"timeoutSeconds"`
}

type kustomization struct {
	Resources []string
	Images    []struct {
		Name    string
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	}
}

// matchLabels is a workload's or budget's selector.matchLabels; selector is a Service's.
func (s spec) matchLabels() map[string]string { return stringMap(s.Selector["matchLabels"]) }
func (s spec) selector() map[string]string    { return stringMap(s.Selector) }

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
