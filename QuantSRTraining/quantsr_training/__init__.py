"""QuantSRTraining: headless training of QuantSR super-resolution models from paired fast/routine maps."""
