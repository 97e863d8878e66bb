// The manifest's texts in every language the package ships (StartOS shows the user's own).

export const short = {
  en_US: 'Control plane and GPU arbiter for a cluster of NVIDIA DGX Sparks',
  de_DE: 'Steuerzentrale und GPU-Verwaltung für einen Cluster aus NVIDIA DGX Sparks',
  es_ES: 'Plano de control y árbitro de GPU para un clúster de NVIDIA DGX Spark',
  fr_FR: 'Plan de contrôle et arbitre GPU pour une grappe de NVIDIA DGX Spark',
}

export const long = {
  en_US:
    'Spark Control decides which vLLM model runs across your DGX Sparks and swaps it safely over SSH. It proxies the OpenAI-compatible LLM, audio and embeddings endpoints, shows a LAN dashboard of every Spark and service, and lets your own automation coordinate with people through a swap lock, a signed swap-event webhook and a read-only schedule registry. It is the GPU arbiter, not a job runner.',
  de_DE:
    'Spark Control entscheidet, welches vLLM-Modell auf Ihren DGX Sparks läuft, und wechselt es sicher über SSH. Es leitet die OpenAI-kompatiblen Endpunkte für LLM, Audio und Embeddings weiter, zeigt ein LAN-Dashboard aller Sparks und Dienste und lässt Ihre Automatisierung über eine Wechselsperre, einen signierten Webhook und ein Zeitplanregister mit Menschen zusammenarbeiten.',
  es_ES:
    'Spark Control decide qué modelo de vLLM se ejecuta en sus DGX Spark y lo cambia de forma segura por SSH. Reenvía los endpoints compatibles con OpenAI de LLM, audio y embeddings, muestra un panel en la LAN de cada Spark y servicio, y coordina su automatización con las personas mediante un bloqueo de cambio, un webhook firmado y un registro de horarios.',
  fr_FR:
    "Spark Control choisit le modèle vLLM qui tourne sur vos DGX Spark et le change en toute sécurité par SSH. Il relaie les points d'accès compatibles OpenAI (LLM, audio, embeddings), affiche un tableau de bord local de chaque Spark et service, et coordonne votre automatisation avec les utilisateurs grâce à un verrou, un webhook signé et un registre des planifications.",
}

export const releaseNotes = {
  en_US:
    'First release. Spark Control swaps the vLLM model your DGX Sparks run (over SSH, with spark-vllm-docker), proxies the OpenAI-compatible endpoints and shows a LAN dashboard, with a swap lock, a signed webhook and a schedule registry for automation. Every setting is an action: Configure Sparks, Services, Models, Access and Swap behaviour; Show SSH public key, Regenerate SSH key, Test Sparks and Forget a host key connect the Sparks. Health checks show unreachable Sparks, a data volume the app cannot write, and settings it could not use.',
  de_DE:
    'Erste Version. Spark Control wechselt das vLLM-Modell Ihrer DGX Sparks (über SSH, mit spark-vllm-docker), leitet die OpenAI-kompatiblen Endpunkte weiter und zeigt ein LAN-Dashboard, mit Wechselsperre, signiertem Webhook und Zeitplanregister für Automatisierung. Jede Einstellung ist eine Aktion. Zustandsprüfungen zeigen unerreichbare Sparks, ein nicht beschreibbares Datenvolume und unbrauchbare Einstellungen.',
  es_ES:
    'Primera versión. Spark Control cambia el modelo de vLLM de sus DGX Spark (por SSH, con spark-vllm-docker), reenvía los endpoints compatibles con OpenAI y muestra un panel en la LAN, con bloqueo de cambio, webhook firmado y registro de horarios para la automatización. Cada ajuste es una acción. Las comprobaciones de salud muestran Sparks inalcanzables, un volumen de datos no escribible y ajustes no utilizables.',
  fr_FR:
    "Première version. Spark Control change le modèle vLLM de vos DGX Spark (par SSH, avec spark-vllm-docker), relaie les points d'accès compatibles OpenAI et affiche un tableau de bord local, avec verrou, webhook signé et registre des planifications pour l'automatisation. Chaque réglage est une action. Les contrôles de santé signalent les Spark injoignables, un volume de données non inscriptible et les réglages inutilisables.",
}
