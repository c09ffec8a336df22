using System.Text;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Control;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Keys;

namespace BuildFarm.Worker.Consuming;

/// <summary>The verdict on one delivery: a request to run, or the reason it is dead-lettered.</summary>
/// <param name="Request">The request, once its signature verified.</param>
/// <param name="Recipe">The derivation to run, when accepted.</param>
/// <param name="RejectReason">Why it is refused; null when accepted.</param>
/// <param name="SignatureValid">The dispatcher really sent it.</param>
/// <param name="ExpiredIssuedAt">Set when the only fault is its age: the dispatcher is told, so it republishes a fresh copy.</param>
/// <param name="Unspoken">
/// Set when the only fault is its contract version, which this worker does not speak: the build and attempt of the
/// genuine (validly signed) request, so the dispatcher is told and builds it on a worker that speaks it.
/// </param>
/// <param name="ClockBehind">
/// Genuine, but issued in this worker's future beyond <see cref="FreshnessSection.ClockSkew"/>: this worker's clock is
/// behind, the request is fine; it goes back to the queue for another worker (never dead-lettered, never a failed build).
/// </param>
internal sealed record RequestVerdict(BuildDerivation? Request, BuildRecipe? Recipe, string? RejectReason, bool SignatureValid, DateTimeOffset? ExpiredIssuedAt = null,
    (Guid BuildId, int Attempt)? Unspoken = null, bool ClockBehind = false)
{
    public bool Accepted => RejectReason is null;
}

/// <summary>
/// Checks a delivery before anything runs: the signature over <c>RequestJson</c> by a trusted dispatcher key is
/// verified BEFORE the request is deserialised; then version (one this worker does not speak is refused with an event,
/// never silently), routing class (with the trusted mark, <see cref="TrustedRouting"/>, and the contract mark,
/// <see cref="ContractRouting"/>), store and derivation. The capabilities are read at each delivery: what the worker
/// consumes by is known only once its sandbox probe decided. A validly signed request issued longer ago than
/// <see cref="FreshnessSection.MaxRequestAge"/> (by this worker's clock) is refused as expired before anything else.
/// </summary>
internal sealed class RequestVerifier(WorkerKeys keys, Func<WorkerCapabilities> capabilities, string storeDir, IDerivationReader derivations,
    FreshnessSection freshness, TimeProvider time, DispatcherClock dispatcherClock)
{
    public RequestVerdict Verify(ReadOnlyMemory<byte> body, BuildClass queueClass)
    {
        SignedBuildRequest? signed;
        try
        {
            signed = JsonSerializer.Deserialize<SignedBuildRequest>(body.Span, MessagingJson.Options);
        }
        catch (JsonException e)
        {
            return Reject($"body is not a SignedBuildRequest JSON document: {e.Message}");
        }

        if (signed is null || signed.RequestJson is null)
            return Reject("body is not a SignedBuildRequest JSON document (null or no RequestJson)");
        if (signed.Version < ContractsInfo.SignedMessagesVersion || signed.IssuedAt is null)
            return Reject($"request contract version {signed.Version} carries no signed issue time (this worker needs version {ContractsInfo.SignedMessagesVersion} or later); upgrade the dispatcher");
        if (string.IsNullOrWhiteSpace(signed.Signature))
            return Reject("request is unsigned (empty Signature)");
        var issuedAt = signed.IssuedAt.Value;
        var check = keys.TrustedDispatchers.VerifyAny(SignedBuildRequest.SignedText(issuedAt, signed.RequestJson), [signed.Signature]);
        if (!check.IsValid)
            return Reject($"request signature rejected: {check.Reason}");
        // Genuine: its issue time tells this worker the dispatcher's clock (for judging control commands' age).
        dispatcherClock.Observe(issuedAt);
        var speaks = ContractRouting.VersionsOf(capabilities());
        if (!speaks.Contains(signed.Version))
            return Unspoken(signed, speaks);

        BuildDerivation? request;
        try
        {
            request = JsonSerializer.Deserialize<BuildDerivation>(signed.RequestJson, MessagingJson.Options);
        }
        catch (JsonException e)
        {
            return Reject($"signed RequestJson is not a BuildDerivation: {e.Message}", signatureValid: true);
        }

        if (request is null)
            return Reject("signed RequestJson is null", signatureValid: true);
        var now = time.GetUtcNow();
        if (issuedAt > now + freshness.ClockSkew)
        {
            return new RequestVerdict(request, null,
                $"request was issued at {issuedAt:O}, {(issuedAt - now).TotalSeconds:0} s ahead of this worker's clock (Freshness:ClockSkew {freshness.ClockSkew}): this worker's clock is behind the dispatcher's",
                true, ClockBehind: true);
        }

        if (now - issuedAt > freshness.MaxRequestAge)
        {
            return new RequestVerdict(request, null,
                $"request was issued at {issuedAt:O}, {(now - issuedAt).TotalSeconds:0} s ago, beyond Freshness:MaxRequestAge {freshness.MaxRequestAge}", true, issuedAt);
        }

        return VerifyRequest(request, signed.Version, queueClass);
    }

    /// <summary>
    /// A genuine request of a version this worker does not speak: the envelope and the request's build id and attempt
    /// are the same in every version (<see cref="ContractsInfo"/>), so the refusal can name the build for the dispatcher.
    /// </summary>
    private static RequestVerdict Unspoken(SignedBuildRequest signed, IReadOnlyList<int> speaks)
    {
        var hint = signed.Version > speaks.Max()
            ? "upgrade this worker; the dispatcher routes a request only to workers that announce its version, so another route put it here"
            : "upgrade the dispatcher";
        var reason = $"request contract version {signed.Version} is not one this worker speaks ({string.Join(", ", speaks)}): {hint}";
        return ContractRouting.IdentityOf(signed.RequestJson) is { } identity
            ? new RequestVerdict(null, null, reason, true, Unspoken: identity)
            : Reject(reason + "; its RequestJson names no buildId and attempt, so no build can be told", signatureValid: true);
    }

    private RequestVerdict VerifyRequest(BuildDerivation request, int version, BuildClass queueClass)
    {
        BuildClass requested, declared;
        try
        {
            declared = new BuildClass(request.System, request.RequiredFeatures);
            requested = ContractRouting.ClassOf(request, version);
        }
        catch (ArgumentException e)
        {
            return Reject($"request class is invalid: {e.Message}", request);
        }

        if (TrustedRouting.ReservedFeatureProblem(request.RequiredFeatures) is { } reserved)
            return Reject($"{request.DrvPath}: {reserved}", request);
        if (!requested.Equals(queueClass))
            return Reject($"request class {requested.Key} arrived on the queue of class {queueClass.Key}", request);
        var can = capabilities();
        if (!CapabilityMatcher.CanRun(can, requested))
            return Reject($"this worker cannot run class {requested.Key} (systems {string.Join(',', can.Systems)}; features {string.Join(',', can.SupportedFeatures)}; mandatory {string.Join(',', can.MandatoryFeatures)})", request);
        if (request.StoreDir != storeDir)
            return Reject($"request is for store {request.StoreDir}, this worker's store is {storeDir}", request);
        var recipe = derivations.Read(request.StoreDir, request.DrvPath, request.DrvText, out var error);
        if (recipe is null)
            return Reject($"{request.DrvPath}: {error}", request);
        if (recipe.System != request.System)
            return Reject($"{request.DrvPath}: derivation system {recipe.System} differs from the request's {request.System}", request);
        var drvFeatures = recipe.Env.TryGetValue("requiredSystemFeatures", out var f)
            ? new BuildClass(recipe.System, f.Split(' ', StringSplitOptions.RemoveEmptyEntries)) : new BuildClass(recipe.System, []);
        if (!drvFeatures.Equals(declared))
            return Reject($"{request.DrvPath}: derivation requires {drvFeatures.Key}, the request says {declared.Key}", request);
        var missing = request.WantedOutputs.Where(o => !recipe.Outputs.ContainsKey(o)).ToList();
        if (request.WantedOutputs.Count == 0 || missing.Count > 0)
            return Reject($"{request.DrvPath}: wanted outputs [{string.Join(',', request.WantedOutputs)}] are not all outputs of the derivation ({string.Join(',', recipe.Outputs.Keys)})", request);
        return new RequestVerdict(request, recipe, null, true);
    }

    private static RequestVerdict Reject(string reason, BuildDerivation? request = null, bool signatureValid = false) =>
        new(request, null, reason, signatureValid || request is not null);

    public static string Describe(ReadOnlyMemory<byte> body) =>
        body.Length <= 200 ? Encoding.UTF8.GetString(body.Span) : Encoding.UTF8.GetString(body.Span[..200]) + "…";
}
