namespace BuildFarm.Dispatcher.Api;

/// <summary>The body of every 4xx/5xx answer of the API: what went wrong, for the client to show verbatim.</summary>
public sealed record ErrorResponse(string Error);
