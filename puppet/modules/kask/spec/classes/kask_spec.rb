# frozen_string_literal: true

require 'spec_helper'

describe 'kask' do
  it { is_expected.to compile.with_all_deps }
  it { is_expected.to contain_class('kask::install') }
  it { is_expected.to contain_package('kask').with_ensure('installed') }
  it { is_expected.to contain_service('kask.service').with(ensure: 'stopped', enable: false).that_requires('Class[kask::install]') }

  context 'with a pinned version' do
    let(:params) { { package_ensure: '1.0.0-1' } }

    it { is_expected.to contain_package('kask').with_ensure('1.0.0-1') }
  end

  context 'with the default unit left alone' do
    let(:params) { { default_unit_ensure: 'unmanaged' } }

    it { is_expected.not_to contain_service('kask.service') }
    it { is_expected.not_to contain_service('kask.socket') }
  end

  context 'with instances' do
    let(:params) { { instances: { 'sessions' => { 'config' => { 'listen_port' => 8081 } } } } }

    it { is_expected.to contain_kask__instance('sessions') }
    it { is_expected.to contain_service('kask@sessions.service') }
  end

  context 'with a bad type' do
    let(:params) { { default_unit_ensure: 'maybe' } }

    it { is_expected.to compile.and_raise_error(/default_unit_ensure.*expects a match for Enum/) }
  end
end
