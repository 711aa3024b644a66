namespace IoTMastery.Sdk;

/// <summary>The outcome of registering one device of a bulk call: the registration, or the error that stopped it.</summary>
public sealed record BulkRegistrationItem
{
    /// <summary>The position of the device in the list passed to <see cref="IDeviceRegistry.RegisterManyAsync"/>.</summary>
    public required int Index { get; init; }

    /// <summary>The device id as given (it may be invalid when <see cref="Error"/> says so).</summary>
    public required string DeviceId { get; init; }

    /// <summary>The registered device and its issued credential (secrets included: hand it to the device, do not log it); <see langword="null"/> on failure.</summary>
    public DeviceRegistrationResult? Registration { get; init; }

    /// <summary>
    /// Why this device was not registered, typed as a single <see cref="IDeviceRegistry.RegisterAsync"/> would throw it:
    /// <see cref="ArgumentException"/> for bad input (checked before any network or disk),
    /// <see cref="IoTErrorKind.AlreadyExists"/>, <see cref="IoTException"/> from the service, or
    /// <see cref="OperationCanceledException"/> when the call was cancelled before the device was written.
    /// <see langword="null"/> on success.
    /// </summary>
    public Exception? Error { get; init; }

    /// <summary>Whether the device was registered.</summary>
    public bool Succeeded => Error is null;
}

/// <summary>
/// The shared parts of bulk registration: the up-front checks every provider applies, and the default implementation for
/// providers whose service has no bulk operation (AWS, GCP-style) so none of them copies a loop.
/// </summary>
internal static class BulkRegistration
{
    /// <summary>Most devices one call takes; larger fleets are split by the caller, so one call's results fit in memory.</summary>
    public const int MaxDevicesPerCall = 100_000;

    /// <summary>
    /// Calls in flight at once in the default loop: enough to hide a service's round trip, few enough to stay inside
    /// the per-account request rates (AWS IoT CreateThing allows 15-100 TPS depending on the region and call).
    /// </summary>
    public const int DefaultConcurrency = 8;

    /// <summary>
    /// Checks the call as a whole, before any work: a missing list, a null entry, too many devices. An invalid id or a
    /// duplicate inside the list is not a whole-call error; <see cref="ItemError"/> reports it for that item alone.
    /// </summary>
    public static void Validate(IReadOnlyList<DeviceRegistration> registrations)
    {
        ArgumentNullException.ThrowIfNull(registrations);
        if (registrations.Count > MaxDevicesPerCall)
            throw new ArgumentException($"One bulk registration takes at most {MaxDevicesPerCall} devices; got {registrations.Count}. Split the list.", nameof(registrations));
        for (var i = 0; i < registrations.Count; i++)
        {
            if (registrations[i] is null)
                throw new ArgumentException($"Registration {i} is null.", nameof(registrations));
        }
    }

    /// <summary>
    /// The per-item checks shared by every provider: the id against <paramref name="rules"/> and a second occurrence of an
    /// id already in the list. Returns the error for item <paramref name="index"/>, or <see langword="null"/>.
    /// </summary>
    public static ArgumentException? ItemError(DeviceRegistration registration, int index, DeviceIdRules rules, HashSet<string> seen)
    {
        if (!rules.IsValid(registration.Id))
            return new ArgumentException(
                $"Device id '{ErrorText.Escape(registration.Id ?? "")}' breaks the {rules.Provider} rule: {rules.Description}.", $"registrations[{index}].Id");
        if (!seen.Add(registration.Id!))
            return new ArgumentException($"Device id '{ErrorText.Escape(registration.Id!)}' appears more than once in the list.", $"registrations[{index}].Id");
        return null;
    }

    /// <summary>
    /// Registers every device with <see cref="IDeviceRegistry.RegisterAsync"/>, at most <paramref name="concurrency"/> at once,
    /// collecting each device's result or error. A failed call is not retried: registration issues credentials and is not
    /// idempotent, so a repeat could leave a second credential or report a false "already exists".
    /// </summary>
    public static async Task<IReadOnlyList<BulkRegistrationItem>> RegisterOneByOneAsync(IDeviceRegistry registry, IReadOnlyList<DeviceRegistration> registrations,
        DeviceIdRules? rules, int concurrency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        Validate(registrations);
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var items = new BulkRegistrationItem[registrations.Count];
        var todo = new List<int>(registrations.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < registrations.Count; i++)
        {
            var error = rules is null ? DuplicateError(registrations[i], i, seen) : ItemError(registrations[i], i, rules, seen);
            if (error is not null) items[i] = Failed(registrations[i], i, error);
            else todo.Add(i);
        }

        await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, _) =>
        {
            // The caller's token, not the loop's: a cancelled call marks the rest as cancelled instead of abandoning them.
            if (cancellationToken.IsCancellationRequested)
            {
                items[i] = Failed(registrations[i], i, new OperationCanceledException(cancellationToken));
                return;
            }
            try
            {
                var result = await registry.RegisterAsync(registrations[i], cancellationToken).ConfigureAwait(false);
                items[i] = new BulkRegistrationItem { Index = i, DeviceId = registrations[i].Id, Registration = result };
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                items[i] = Failed(registrations[i], i, ex);
            }
        }).ConfigureAwait(false);
        return items;
    }

    /// <summary>A failed item.</summary>
    public static BulkRegistrationItem Failed(DeviceRegistration registration, int index, Exception error) =>
        new() { Index = index, DeviceId = registration.Id ?? "", Error = error };

    // Without the provider's rules an invalid id is left to RegisterAsync, which rejects it before the network.
    private static ArgumentException? DuplicateError(DeviceRegistration registration, int index, HashSet<string> seen) =>
        registration.Id is not null && !seen.Add(registration.Id)
            ? new ArgumentException($"Device id '{ErrorText.Escape(registration.Id)}' appears more than once in the list.", $"registrations[{index}].Id")
            : null;
}
