namespace BuildFarm.Dispatcher.Ui;

/// <summary>The <c>Ui</c> config section (env <c>BUILDFARM_DISPATCHER__Ui__Token</c> etc.).</summary>
public sealed class UiOptions
{
    public const string Section = "Ui";

    /// <summary>When set, every /api, /metrics and UI request needs <c>Authorization: Bearer TOKEN</c> or the login cookie.</summary>
    public string Token { get; set; } = "";

    /// <summary>Allow listening on a non-loopback address without a token (explicit opt-in to an open farm).</summary>
    public bool AllowUnauthenticatedRemote { get; set; }

    /// <summary>
    /// Comma-separated extra names the dispatcher answers to in the <c>Host</c> header (DNS-rebinding guard); always
    /// allowed: localhost, 127.0.0.1, [::1] and the listen address's host unless it is a wildcard. <c>*</c> accepts any.
    /// </summary>
    public string AllowedHosts { get; set; } = "";

    /// <summary>Workers not heard from for this long disappear from the UI, the API's worker list and the metrics (their rows stay).</summary>
    public TimeSpan ForgetDeadWorkersAfter { get; set; } = TimeSpan.FromHours(24);
}
